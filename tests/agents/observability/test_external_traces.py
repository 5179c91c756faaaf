"""External traces (OTLP ingest) in the explorer: listed under "external traces", filtered, opened as a span tree."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.models import Project
from traces.models import Span, SpanStatus, Trace, TraceSource


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _external(project: Project, name: str, *, model: str = "gpt-4o", status: str = "ok") -> tuple[Trace, Span, Span]:
    now = timezone.now()
    trace = Trace.objects.create(
        project=project,
        source=TraceSource.EXTERNAL,
        name=name,
        service_name="my-app",
        session_id="s-1",
        status=status,
        started_at=now,
    )
    root = Span.objects.create(
        trace=trace,
        project=project,
        otel_span_id="a" * 16,
        kind="invoke_agent",
        name="agent",
        model="",
        started_at=now,
        ended_at=now + dt.timedelta(seconds=2),
    )
    child = Span.objects.create(
        trace=trace,
        project=project,
        otel_span_id="b" * 16,
        otel_parent_span_id="a" * 16,
        kind="chat",
        name="chat",
        model=model,
        input_tokens=30,
        output_tokens=7,
        cost_usd=Decimal("0.001"),
        price_source="litellm",
        input={"messages": [{"role": "user", "content": "Ping from outside"}]},
        output={"text": "Pong"},
        status=SpanStatus.OK,
        started_at=now + dt.timedelta(milliseconds=100),
        ended_at=now + dt.timedelta(milliseconds=900),
    )
    return trace, root, child


def test_explorer_lists_external_traces_and_filters_them(project: Project, alice: Any, charlie: Any) -> None:
    mine, _, _ = _external(project, "checkout flow")
    other, _, _ = _external(project, "search flow", model="claude-3", status="error")
    client = _client(alice)
    url = reverse("trace-explorer", args=["acme"])
    body = client.get(url, {"source": "external"}).content.decode()
    found = re.findall(r'href="/p/acme/traces/external/(\d+)/"', body)
    assert sorted(map(int, found)) == sorted([mine.pk, other.pk]) and "my-app" in body
    assert re.findall(
        r'/traces/external/(\d+)/"', client.get(url, {"source": "external", "endpoint": "claude-3"}).content.decode()
    ) == [str(other.pk)]
    assert re.findall(
        r'/traces/external/(\d+)/"', client.get(url, {"source": "external", "status": "failed"}).content.decode()
    ) == [str(other.pk)]
    assert re.findall(
        r'/traces/external/(\d+)/"', client.get(url, {"source": "external", "q": "CHECKOUT"}).content.decode()
    ) == [str(mine.pk)]
    assert f"/traces/external/{mine.pk}/" not in client.get(url).content.decode()  # runs only by default
    assert _client(charlie).get(reverse("external-trace-detail", args=["acme", mine.pk])).status_code == 404


def test_external_trace_page_nests_spans_and_opens_one(project: Project, alice: Any) -> None:
    trace, _root, child = _external(project, "checkout flow")
    client = _client(alice)
    body = client.get(reverse("external-trace-detail", args=["acme", trace.pk])).content.decode()
    span_url = reverse("external-trace-span", args=["acme", trace.pk, child.pk])
    assert span_url in body and body.index("> agent") < body.index(span_url)
    assert body.count('class="tree__children"') == 2  # trace → agent → chat
    panel = client.get(span_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Ping from outside" in panel and "Pong" in panel and "price from litellm" in panel
    assert "Rerun from this step" not in panel
    full = client.get(span_url)
    assert full.status_code == 200 and f"/traces/external/{trace.pk}/" in full.content.decode()
    run_trace = Trace.objects.create(project=project, source=TraceSource.RUN, name="a run")
    assert client.get(reverse("external-trace-detail", args=["acme", run_trace.pk])).status_code == 404
    assert client.get(reverse("external-trace-span", args=["acme", trace.pk, 10**9])).status_code == 404
