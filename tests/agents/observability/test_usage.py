"""Usage page: tokens and cost over time, by endpoint/model, workflow and user; unknown prices flagged
(never $0); runs, error rate, p50/p95; CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunStatus, Workflow
from studio.lib.percentiles import percentile as _percentile
from tests.agents.observability.helpers import add_span, add_step, make_run
from traces.models import ModelEndpoint


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _chart(body: str) -> dict[str, Any]:
    found = re.search(r'<script id="usage-chart-data" type="application/json">(.*?)</script>', body, re.S)
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def test_usage_page_charts_tokens_and_cost_per_day_and_breaks_them_down(
    brief_run: Run, research: Workflow, alice: Any, paid_endpoint: ModelEndpoint
) -> None:
    paid = make_run(research, alice, status=RunStatus.FAILED, duration_ms=3000)
    add_span(
        paid,
        add_step(paid, "writer", "llm", 0, 100),
        paid_endpoint,
        model="openai/gpt-4o-mini",
        cost=Decimal("0.25"),
        tokens=(1000, 200),
    )
    response = _client(alice).get(reverse("usage", args=["acme"]))
    assert response.status_code == 200
    body = response.content.decode()
    chart = _chart(body)
    today = timezone.localdate().isoformat()
    assert chart["labels"][-1] == today and len(chart["labels"]) == 30
    assert chart["input_tokens"][-1] == 4 * 50 + 1000 and chart["output_tokens"][-1] == 4 * 10 + 200
    assert chart["cost_usd"][-1] == 0.25 and chart["unknown_calls"][-1] == 0
    assert chart["cost_usd"][0] == 0  # a day without calls cost nothing (known)
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in body and 'src="/static/js/usage.js"' in body
    assert "gpt-4o-mini" in body and "openai/smollm2" in body  # by model
    assert "Research brief" in body and ">alice<" in body  # by workflow, by user
    assert "50.0 %" in body  # one of the two runs failed
    assert 'id="usage-cost">$0.25' in body


def test_unknown_prices_are_counted_and_flagged_never_zero(research: Workflow, alice: Any) -> None:
    run = make_run(research, alice)
    add_span(run, add_step(run, "writer", "llm", 0, 100), None, model="mystery/model", cost=None)
    body = _client(alice).get(reverse("usage", args=["acme"])).content.decode()
    chart = _chart(body)
    assert chart["cost_usd"][-1] is None and chart["unknown_calls"][-1] == 1
    assert 'id="usage-cost">unknown' in body and "1 call with unknown price" in body


def test_hourly_and_weekly_buckets_and_bad_ranges(brief_run: Run, alice: Any) -> None:
    client = _client(alice)
    hourly = _chart(client.get(reverse("usage", args=["acme"]), {"bucket": "hour"}).content.decode())
    assert len(hourly["labels"]) == 48 and sum(hourly["calls"]) == 4
    weekly = _chart(client.get(reverse("usage", args=["acme"]), {"bucket": "week"}).content.decode())
    assert weekly["labels"][0].startswith("week of") and sum(weekly["calls"]) == 4
    too_many = client.get(reverse("usage", args=["acme"]), {"bucket": "hour", "date_from": "2020-01-01"})
    assert too_many.status_code == 400 and b"Too many hours" in too_many.content
    backwards = client.get(reverse("usage", args=["acme"]), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert backwards.status_code == 400 and b"Must not be before the start." in backwards.content
    assert client.get(reverse("usage", args=["acme"]), {"date_from": "yesterday"}).status_code == 400


def test_empty_range_has_an_empty_state(project: Any, alice: Any) -> None:
    body = _client(alice).get(reverse("usage", args=["acme"])).content.decode()
    assert "No usage in this range" in body and "usage-chart-data" not in body


def test_csv_export_lists_calls_per_bucket_and_model(
    brief_run: Run, research: Workflow, alice: Any, charlie: Any
) -> None:
    run = make_run(research, alice, at=timezone.now() - dt.timedelta(days=1))
    add_span(run, add_step(run, "writer", "llm", 0, 100), None, model="=HYPERLINK(1)", cost=None, tokens=(7, 3))
    response = _client(alice).get(reverse("usage-export", args=["acme"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    local = [r for r in rows if r["model"] == "openai/smollm2"]
    assert len(local) == 1 and local[0]["calls"] == "4" and local[0]["input_tokens"] == "200"
    assert local[0]["cost_usd"] == "0.00000000" and local[0]["endpoint"] == "local"
    mystery = [r for r in rows if r["model"] == "'=HYPERLINK(1)"]  # no formula for a spreadsheet
    assert mystery[0]["cost_usd"] == "" and mystery[0]["unknown_price_calls"] == "1"
    assert _client(charlie).get(reverse("usage-export", args=["acme"])).status_code == 404
    bad = _client(alice).get(reverse("usage-export", args=["acme"]), {"bucket": "year"})
    assert bad.status_code == 400 and b"bucket" in bad.content


def test_percentile_interpolates_like_postgres() -> None:
    assert _percentile([], 0.5) is None
    assert _percentile([10.0], 0.95) == 10.0
    assert _percentile([100.0, 200.0, 300.0, 400.0], 0.5) == 250.0
    assert abs(_percentile([float(i) for i in range(1, 101)], 0.95) - 95.05) < 1e-9  # type: ignore[operator]


def test_the_quickstart_latency_path_answers_the_page(
    brief_run: Run, research: Workflow, alice: Any, monkeypatch: Any
) -> None:
    """SQLite (quickstart) has no percentile_cont: p50/p95 come from the runs' own times in Python.

    That path once raised FieldError (``only()`` on a queryset with ``select_related("workflow")``),
    a 500 on the usage page of every quickstart install; the vendor is switched to take it here.
    """
    from django.db import connection

    slow = make_run(research, alice, status=RunStatus.SUCCEEDED, duration_ms=3000)
    assert slow.pk
    monkeypatch.setattr(connection, "vendor", "sqlite")
    response = _client(alice).get(reverse("usage", args=["acme"]))
    assert response.status_code == 200
    assert "Research brief" in response.content.decode()
