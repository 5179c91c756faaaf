"""Trace explorer: filters, cursor pages, saved filters, and who may see what."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunStatus, SavedFilter, Workflow
from studio.models import AuditEvent
from tests.agents.observability.helpers import add_span, add_step, make_run
from traces.models import ModelEndpoint


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _explorer(client: Client, **query: Any) -> Any:
    return client.get(reverse("trace-explorer", args=["acme"]), query)


def _run_ids(response: Any) -> list[int]:
    return sorted(
        int(pk)
        for pk in re.findall(r'class="row-link__a mono" href="/p/acme/traces/(\d+)/"', response.content.decode())
    )


def test_explorer_lists_runs_and_links_each_to_its_trace(brief_run: Run, alice: Any) -> None:
    response = _explorer(_client(alice))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/p/acme/traces/{brief_run.pk}/"' in body
    assert "Research brief" in body and "alice" in body
    assert 'href="/p/acme/traces/"' in body  # the sidebar's Traces link


def test_explorer_filters_by_endpoint_status_text_and_workflow(
    brief_run: Run, research: Workflow, alice: Any, paid_endpoint: ModelEndpoint
) -> None:
    paid = make_run(research, alice, inputs={"topic": "volcanoes"})
    add_span(paid, add_step(paid, "writer", "llm", 0, 100), paid_endpoint, model="openai/gpt-4o-mini")
    failed = make_run(research, alice, status=RunStatus.FAILED, error_code="timeout", inputs={"topic": "Comets"})
    client = _client(alice)
    assert _run_ids(_explorer(client, endpoint="paid")) == [paid.pk]
    assert _run_ids(_explorer(client, endpoint="openai/smollm2")) == [brief_run.pk]
    assert _run_ids(_explorer(client, status="failed")) == [failed.pk]
    assert _run_ids(_explorer(client, error_code="timeout")) == [failed.pk]
    assert _run_ids(_explorer(client, q="comets")) == [failed.pk]  # case-insensitive, in inputs
    assert _run_ids(_explorer(client, q="follow the moon")) == [brief_run.pk]  # in outputs
    assert _run_ids(_explorer(client, node_type="agent")) == [brief_run.pk]
    assert _run_ids(_explorer(client, workflow="research-brief", endpoint="paid")) == [paid.pk]
    assert _run_ids(_explorer(client, user="alice", status="succeeded")) == sorted([brief_run.pk, paid.pk])
    assert b"No runs match these filters" in _explorer(client, workflow="nope").content


def test_explorer_ranges_of_cost_latency_tokens_and_dates(research: Workflow, alice: Any) -> None:
    old = make_run(
        research, alice, at=timezone.now() - dt.timedelta(days=10), cost="0.5", tokens=(5000, 100), duration_ms=60_000
    )
    new = make_run(research, alice, cost="0.001", tokens=(10, 5), duration_ms=200)
    client = _client(alice)
    assert _run_ids(_explorer(client, cost_min="0.1")) == [old.pk]
    assert _run_ids(_explorer(client, cost_max="0.01")) == [new.pk]
    assert _run_ids(_explorer(client, latency_min="1000")) == [old.pk]
    assert _run_ids(_explorer(client, latency_max="500")) == [new.pk]
    assert _run_ids(_explorer(client, tokens_min="1000")) == [old.pk]
    today = timezone.localdate().isoformat()
    assert _run_ids(_explorer(client, date_from=today)) == [new.pk]
    assert _run_ids(_explorer(client, date_to=(timezone.localdate() - dt.timedelta(days=5)).isoformat())) == [old.pk]


def test_bad_filters_and_cursors_are_a_400_with_the_reason(brief_run: Run, alice: Any) -> None:
    client = _client(alice)
    response = _explorer(client, cost_min="lots", tokens_min="5", tokens_max="1")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a number." in body and "Must not be below the lower bound." in body
    response = _explorer(client, cursor="not-a-cursor")
    assert response.status_code == 400 and b"Bad cursor" in response.content


def test_cursor_pages_cover_every_run_once(research: Workflow, alice: Any) -> None:
    base = timezone.now() - dt.timedelta(hours=1)
    runs = [make_run(research, alice, at=base + dt.timedelta(seconds=i // 2)) for i in range(130)]  # ties on time
    client = _client(alice)
    seen: list[int] = []
    url = reverse("trace-explorer", args=["acme"])
    response = client.get(url)
    seen += _run_ids(response)
    pages = 1
    while "cursor=" in (body := response.content.decode()):
        cursor = body.split("cursor=", 1)[1].split('"', 1)[0]
        response = client.get(url, {"cursor": cursor}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert b"<html" not in response.content  # rows only, for the htmx swap
        seen += _run_ids(response)
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(run.pk for run in runs)


def test_explorer_is_404_for_a_stranger_and_shows_a_viewer_only_visible_runs(
    brief_run: Run, bob: Any, charlie: Any
) -> None:
    assert _explorer(_client(charlie)).status_code == 404
    assert _run_ids(_explorer(_client(bob))) == [brief_run.pk]


def test_saved_filters_are_per_user_and_audited(brief_run: Run, alice: Any, bob: Any) -> None:
    client = _client(alice)
    url = reverse("saved-filter-create", args=["acme"])
    response = client.post(url, {"name": "Failed ones", "status": "failed", "cursor": "x"})
    assert response.status_code == 302 and response["Location"].endswith("?status=failed")
    saved = SavedFilter.objects.get(user=alice)
    assert (saved.name, saved.query) == ("Failed ones", "status=failed")
    assert AuditEvent.objects.filter(verb="saved_filter.save", actor=alice).exists()
    assert b"Failed ones" in _explorer(client).content
    assert b"Failed ones" not in _explorer(_client(bob)).content
    assert client.post(url, {"name": "", "status": "failed"}).status_code == 302  # refused with a message
    assert client.post(url, {"name": "bad", "cost_min": "x"}).status_code == 302
    assert SavedFilter.objects.count() == 1
    delete = reverse("saved-filter-delete", args=["acme", saved.pk])
    assert _client(bob).post(delete).status_code == 404  # not bob's
    assert client.post(delete).status_code == 302
    assert not SavedFilter.objects.exists()


def test_cost_with_an_unknown_price_shows_as_unknown_not_zero(research: Workflow, alice: Any) -> None:
    run = make_run(research, alice, cost="0")
    Run.objects.filter(pk=run.pk).update(cost_unknown=True, cost_usd=Decimal("0"))
    body = _explorer(_client(alice)).content.decode()
    assert "≥" in body or "unknown" in body


def test_explorer_filters_by_session(research: Workflow, alice: Any) -> None:
    chat = make_run(research, alice)
    Run.objects.filter(pk=chat.pk).update(session_id="chat-42")
    make_run(research, alice)
    response = _explorer(_client(alice), session="chat-42")
    assert 'name="session"' in response.content.decode()
    assert _run_ids(response) == [chat.pk]
