"""The trace explorer and the usage dashboard over a large synthetic span table, measured.

* ``trace_explorer_first_page_ms`` (goal p50 ≤ 200): the explorer's first
  page (50 runs) with two filters — endpoint and status — as the page asks
  for it (``agents.observability.selectors.explorer_page``);
* ``usage_dashboard_ms`` (goal ≤ 300): every query of the usage page for the
  default range (30 days per day): the series, run figures with p50/p95, by
  endpoint/model, by workflow and by user (``agents.observability.usage``),
  as the page runs them: hourly rollups for closed hours plus live rows for the
  current hour (``agents.observability.rollups``). One rollup pass runs
  first (a full build when the rollups are empty: ``rollup_build_s``), then
  two more; the last is timed (``rollup_pass_ms``, what the beat task costs
  each minute with nothing new).

Data: a project of its own (``bench-observability``) with
``STUDIO_BENCH_SPANS`` spans (default 1,000,000: 100,000 runs of 10 model
calls each, with their steps and traces) spread over the last 30 days,
written once with ``generate_series`` SQL (about a minute) and kept for
later runs; ``ANALYZE`` after. Each figure is timed warm (the first call is
not counted) by this process's wall clock.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import entry

PROJECT_SLUG = "bench-observability"
CALLS_PER_RUN = 10
WORKFLOWS = ("alpha", "beta", "gamma")
ENDPOINTS = ("small", "large", "mystery")  # "mystery" has no price: its calls' cost is unknown


def _world() -> tuple[Any, Any]:
    """(project, owner) with workflows and endpoints, created once."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from agents.models import Workflow
    from studio.models import Membership, Project, Role
    from traces.models import ModelEndpoint

    project, _ = Project.objects.get_or_create(slug=PROJECT_SLUG, defaults={"name": "Bench observability"})
    owner, _ = get_user_model().objects.get_or_create(username="bench-observer")
    Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Role.OWNER})
    for slug in WORKFLOWS:
        Workflow.objects.get_or_create(project=project, slug=slug, defaults={"name": slug.title()})
    for slug in ENDPOINTS:
        priced = slug != "mystery"
        ModelEndpoint.objects.get_or_create(
            project=project,
            slug=slug,
            defaults={
                "name": slug,
                "model": f"openai/{slug}",
                "use_litellm_prices": False,
                "input_price_per_mtok": Decimal("0.5") if priced else None,
                "output_price_per_mtok": Decimal("1.5") if priced else None,
            },
        )
    return project, owner


def _generate(project: Any, owner: Any, spans: int) -> None:
    """Runs, steps, traces and spans with generate_series (skipped when the project has them already)."""
    from django.db import connection

    from agents.models import Workflow
    from traces.models import ModelEndpoint, Span

    if Span.objects.filter(project=project).count() >= spans:
        return
    runs = max(1, spans // CALLS_PER_RUN)
    workflows = list(Workflow.objects.filter(project=project).order_by("slug").values_list("pk", flat=True))
    endpoints = list(ModelEndpoint.objects.filter(project=project).order_by("slug").values_list("pk", flat=True))
    with connection.cursor() as cur:
        cur.execute("DELETE FROM traces_span WHERE project_id = %s", [project.pk])
        cur.execute("DELETE FROM traces_trace WHERE project_id = %s", [project.pk])
        cur.execute(
            "DELETE FROM agents_step WHERE run_id IN (SELECT id FROM agents_run WHERE project_id = %s)", [project.pk]
        )
        cur.execute("DELETE FROM agents_run WHERE project_id = %s", [project.pk])
        # runs: over the last 30 days, 1 in 10 failed, wall time 0.5-30 s
        cur.execute(
            """
            INSERT INTO agents_run (project_id, workflow_id, graph, status, inputs, outputs, error, error_code,
                failed_node, input_tokens, output_tokens, cost_usd, cost_unknown, max_concurrency,
                rerun_from_node, cancel_requested, attempt, event_seq, created_by_id, created_at, started_at,
                finished_at, session_id)
            SELECT %(project)s, (%(workflows)s::bigint[])[1 + g %% 3], '{}'::jsonb,
                CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'succeeded' END,
                jsonb_build_object('topic', 'topic ' || g), jsonb_build_object('brief', 'brief ' || g),
                '', CASE WHEN g %% 10 = 0 THEN 'timeout' ELSE '' END, '',
                1000, 200, 0.0008, g %% 3 = 2, 4, '', false, 1, 0, %(owner)s,
                now() - (g * interval '1 second' * (2592000.0 / %(runs)s)),
                now() - (g * interval '1 second' * (2592000.0 / %(runs)s)),
                now() - (g * interval '1 second' * (2592000.0 / %(runs)s)) + (500 + (g %% 60) * 500) * interval '1 ms',
                ''
            FROM generate_series(1, %(runs)s) AS g
            """,
            {"project": project.pk, "workflows": workflows, "owner": owner.pk, "runs": runs},
        )
        cur.execute(
            """
            INSERT INTO agents_step (run_id, node_id, iteration, node_type, label, status, inputs, outputs, error,
                error_code, input_tokens, output_tokens, cost_usd, reused, attempt, meta, started_at, finished_at,
                duration_ms)
            SELECT r.id, 'writer', '', CASE WHEN r.id %% 2 = 0 THEN 'llm' ELSE 'agent' END, 'Writer', 'succeeded',
                '{}'::jsonb, '{}'::jsonb, '', '', 1000, 200, 0.0008, false, 1, '{}'::jsonb, r.started_at,
                r.finished_at, 500
            FROM agents_run r WHERE r.project_id = %(project)s
            """,
            {"project": project.pk},
        )
        cur.execute(
            """
            INSERT INTO traces_trace (project_id, run_id, otel_trace_id, source, session_id, service_name, name,
                status, started_at, ended_at)
            SELECT r.project_id, r.id, md5(r.id::text), 'run', '', '', 'bench', '', r.started_at, r.finished_at
            FROM agents_run r WHERE r.project_id = %(project)s
            """,
            {"project": project.pk},
        )
        cur.execute(
            """
            INSERT INTO traces_span (trace_id, project_id, otel_span_id, otel_parent_span_id, kind, name,
                endpoint_id, model, run_id, step_id, node_id, input, output, input_tokens, cache_read_tokens,
                cache_write_tokens, output_tokens, reasoning_tokens, usage_estimated, attributes, cost_usd,
                price_source, latency_ms, status, error, error_code, started_at, ended_at)
            SELECT t.id, t.project_id, substr(md5(t.id::text || '-' || c), 1, 16), '', 'chat', 'writer',
                (%(endpoints)s::bigint[])[1 + (t.run_id + c) %% 3], 'openai/model', t.run_id, s.id, 'writer',
                '{}'::jsonb, '{}'::jsonb, 100, 0, 0, 20, 0, false, '{}'::jsonb,
                CASE WHEN (t.run_id + c) %% 3 = 1 THEN NULL ELSE 0.00008 END,
                CASE WHEN (t.run_id + c) %% 3 = 1 THEN 'unknown' ELSE 'endpoint' END, 50,
                CASE WHEN c = 9 AND t.run_id %% 10 = 0 THEN 'error' ELSE 'ok' END, '', '',
                t.started_at + c * interval '40 ms', t.started_at + c * interval '40 ms' + interval '50 ms'
            FROM traces_trace t JOIN agents_step s ON s.run_id = t.run_id
            CROSS JOIN generate_series(0, %(calls)s - 1) AS c
            WHERE t.project_id = %(project)s
            """,
            {"project": project.pk, "endpoints": endpoints, "calls": CALLS_PER_RUN},
        )
    with connection.cursor() as cur:  # outside the transaction: VACUUM keeps the visibility map for index-only scans
        for table in ("agents_run", "agents_step", "traces_trace", "traces_span"):
            cur.execute(f"VACUUM ANALYZE {table}")


def _time(fn: Any, n: int) -> list[float]:
    fn()  # warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def run() -> list[dict[str, Any]]:
    """Both entries (see the module docstring)."""
    from agents.observability import usage
    from agents.observability.filters import ExplorerFilters
    from agents.observability.selectors import explorer_page

    spans = int(os.environ.get("STUDIO_BENCH_SPANS", "1000000"))
    project, owner = _world()
    started = time.perf_counter()
    _generate(project, owner, spans)
    generated_s = round(time.perf_counter() - started, 1)
    filters = ExplorerFilters(endpoint="large", status="succeeded")

    def explorer() -> None:
        page = explorer_page(user=owner, project=project, filters=filters)
        assert len(page.runs) == 50 and page.next_cursor

    from agents.observability import rollups

    started = time.perf_counter()
    rollups.rollup_pass()
    rollup_build_s = round(time.perf_counter() - started, 2)
    rollups.rollup_pass()  # after a full build, one pass still recomputes every hour (watermark overlap)
    started = time.perf_counter()
    rollups.rollup_pass()
    rollup_pass_ms = round((time.perf_counter() - started) * 1000)
    form = usage.UsageForm({})
    assert form.is_valid()
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]

    def dashboard() -> None:
        cells = usage.usage_cells(project=project, start=start, end=end, bucket="day")
        usage.usage_series(project=project, start=start, end=end, bucket="day", cells=cells)
        usage.usage_by_model(project=project, start=start, end=end, cells=cells)
        usage.run_figures(user=owner, project=project, start=start, end=end)  # stats, by workflow, by user

    extra = {"spans": spans, "generate_s": generated_s}
    return [
        entry(
            "trace_explorer_first_page_ms", "ms", _time(explorer, 20), goal_p50=200, filters="endpoint,status", **extra
        ),
        entry(
            "usage_dashboard_ms",
            "ms",
            _time(dashboard, 5),
            goal_p50=300,
            range_days=30,
            path="rollups",
            rollup_build_s=rollup_build_s,
            rollup_pass_ms=rollup_pass_ms,
            **extra,
        ),
    ]
