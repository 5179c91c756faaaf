"""Hourly usage rollups: the usage figures read from rollups (closed hours) plus live rows (current hour)
equal the exact figures for counts, tokens and cost; p50/p95 stay within the histogram's bound."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunStatus, UsageRollupState, UsageRunHour, UsageSpanHour, Workflow
from agents.observability import rollups
from agents.observability import usage as sel
from studio.lib.percentiles import percentile as _percentile
from tests.agents.observability.helpers import add_span, add_step, make_run
from traces.models import ModelEndpoint

BOUND = rollups.RATIO - 1  # relative error of a percentile (module docstring of rollups)


def _figures(user: Any, project: Any) -> dict[str, Any]:
    form = sel.UsageForm({})
    assert form.is_valid()
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    cells = sel.usage_cells(project=project, start=start, end=end, bucket="day")
    keys = ("calls", "errors", "in_tokens", "out_tokens", "fresh_tokens", "cache_read", "output_only", "cost")
    series = sel.usage_series(project=project, start=start, end=end, bucket="day", cells=cells)
    hourly = sel.usage_series(project=project, start=start, end=end, bucket="hour")
    return {
        "series": [tuple([row["at"], *[row[k] for k in keys], row["unknown_calls"]]) for row in series],
        "hourly": [(row["at"], row["calls"], row["cost"]) for row in hourly],
        "models": sorted(
            (r["endpoint"], r["model"], r["calls"], r["cost"], r["unknown_calls"], r["in_tokens"])
            for r in sel.usage_by_model(project=project, start=start, end=end, cells=cells)
        ),
        "stats": sel.run_stats(user=user, project=project, start=start, end=end),
        "workflows": sel.usage_by_workflow(user=user, project=project, start=start, end=end),
        "users": sel.usage_by_user(user=user, project=project, start=start, end=end),
    }


def _same(exact: dict[str, Any], rolled: dict[str, Any]) -> None:
    assert rolled["series"] == exact["series"] and rolled["hourly"] == exact["hourly"]
    assert rolled["models"] == exact["models"]
    e, r = exact["stats"], rolled["stats"]
    assert (r.runs, r.failed, r.tokens, r.cost, r.unknown_runs) == (e.runs, e.failed, e.tokens, e.cost, e.unknown_runs)
    for p in ("p50_ms", "p95_ms"):
        assert abs(getattr(r, p) - getattr(e, p)) <= BOUND * getattr(e, p) + 1, p
    for name, key in (("workflows", "workflow__slug"), ("users", "created_by__username")):
        exact_rows = {row[key]: row for row in exact[name]}
        rolled_rows = {row[key]: row for row in rolled[name]}
        assert exact_rows.keys() == rolled_rows.keys()
        for k, row in exact_rows.items():
            got = rolled_rows[k]
            assert [got[f] for f in ("runs", "failed", "tokens", "cost", "unknown_runs")] == [
                row[f] for f in ("runs", "failed", "tokens", "cost", "unknown_runs")
            ]
            assert abs(got["p95_ms"] - row["p95_ms"]) <= BOUND * row["p95_ms"] + 1


def _world(research: Workflow, alice: Any, bob: Any, paid: ModelEndpoint) -> None:
    now = timezone.now()
    for i, (ago, who, duration) in enumerate(
        [(dt.timedelta(days=3), alice, 1200), (dt.timedelta(hours=2), bob, 45000), (dt.timedelta(0), alice, 300)]
        + [(dt.timedelta(days=1, hours=i), alice, 700 + 137 * i) for i in range(12)]
    ):
        run = make_run(
            research, who, at=now - ago, duration_ms=duration, status=RunStatus.FAILED if i % 4 == 0 else "succeeded"
        )
        step = add_step(run, "writer", "llm", 0, 100)
        add_span(run, step, paid, model="openai/gpt-4o-mini", cost=Decimal("0.0125"), tokens=(1000 + i, 200))
        add_span(run, step, None, model="mystery/model", cost=None, tokens=(7, 3 + i))


def test_rollups_equal_the_exact_figures_and_follow_new_rows(
    research: Workflow, alice: Any, bob: Any, paid_endpoint: ModelEndpoint
) -> None:
    _world(research, alice, bob, paid_endpoint)
    project = research.project
    exact = _figures(alice, project)  # no pass yet: everything read live
    assert rollups.rolled_until() is None
    assert rollups.rollup_pass() == -1  # the first pass rebuilds everything
    assert UsageSpanHour.objects.filter(project=project).count() >= 14 and UsageRunHour.objects.exists()
    _same(exact, _figures(alice, project))
    assert rollups.rolled_until() is not None and rollups.rolled_until() <= timezone.now()

    # new rows in an hour already rolled up (a late span, a new run) are folded by the next pass
    late = make_run(research, bob, at=timezone.now() - dt.timedelta(days=2), duration_ms=9000)
    add_span(late, add_step(late, "writer", "llm", 0, 100), paid_endpoint, cost=Decimal("1.5"), tokens=(5, 5))
    assert rollups.rollup_pass() > 0
    live_state = UsageRollupState.objects.get()
    UsageRollupState.objects.all().delete()
    exact = _figures(alice, project)
    UsageRollupState.objects.create(
        **{f.name: getattr(live_state, f.name) for f in UsageRollupState._meta.fields if f.name != "id"}
    )
    _same(exact, _figures(alice, project))
    assert exact["stats"].runs == 16 and exact["stats"].cost == Decimal("0.016")


def test_a_finished_run_updates_its_hour_and_the_backfill_command_rebuilds(
    research: Workflow, alice: Any, paid_endpoint: ModelEndpoint
) -> None:
    run = make_run(research, alice, at=timezone.now() - dt.timedelta(hours=5), status=RunStatus.RUNNING)
    Run.objects.filter(pk=run.pk).update(finished_at=None)
    rollups.rollup_pass()
    rollups.rollup_pass()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, finished_at=timezone.now())
    rollups.rollup_pass()  # finished since the last pass: its hour is recomputed
    cell = UsageRunHour.objects.get(workflow=research)
    assert (cell.runs, cell.failed, sum(cell.latency_hist.values())) == (1, 1, 1)
    UsageRunHour.objects.all().delete()
    call_command("usage_rollup")
    assert UsageRunHour.objects.get(workflow=research).failed == 1


def test_usage_page_reads_the_rollups(research: Workflow, alice: Any, bob: Any, paid_endpoint: ModelEndpoint) -> None:
    _world(research, alice, bob, paid_endpoint)
    rollups.rollup_pass()
    client = Client()
    client.force_login(alice)
    body = client.get(reverse("usage", args=["acme"])).content.decode()
    assert 'id="usage-cost">≥ $0.188' in body and "Research brief" in body and ">bob<" in body


def test_histogram_percentiles_stay_within_the_documented_bound() -> None:
    rng = random.Random(9)
    for size in (1, 2, 3, 10, 101, 1000):
        values = sorted(rng.lognormvariate(7, 1.5) for _ in range(size))
        hist: dict[int, int] = {}
        for v in values:
            hist[rollups.bucket_of(v)] = hist.get(rollups.bucket_of(v), 0) + 1
        for fraction in (0.5, 0.95):
            exact = _percentile(values, fraction)
            got = rollups.hist_percentile(hist, fraction)
            assert exact is not None and got is not None
            assert abs(got - exact) <= BOUND * max(values[int((size - 1) * fraction) :][:2]) + 1e-9
    assert rollups.hist_percentile({}, 0.5) is None
    assert rollups.bucket_bounds(rollups.bucket_of(0.3)) == (0.0, 1.0)
    lo, hi = rollups.bucket_bounds(rollups.bucket_of(1234.0))
    assert lo <= 1234.0 < hi and abs(hi / lo - rollups.RATIO) < 1e-9
