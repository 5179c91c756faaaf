"""Hourly usage rollups: what the usage page reads instead of scanning every span and run.

Two tables (``agents.models``): ``UsageSpanHour`` (per project, UTC hour of
``Span.started_at``, endpoint and model: calls, errors, the disjoint token
parts, cost of known prices, calls with an unknown price) and
``UsageRunHour`` (per project, UTC hour of ``Run.created_at``, workflow,
user and API key: runs, failed, tokens, cost, runs with an unknown price and
a latency histogram of the finished runs' wall time).

Maintenance — a beat task every minute (:func:`rollup_pass`), not a hook on
the run path: it recomputes whole (project, hour) cells — DELETE and
INSERT … SELECT in one transaction, so a cell is always an exact aggregate of
the rows its snapshot saw, never an increment applied twice or lost. The
cells it recomputes are those touched since the pass before the last one
(spans and runs with an id above that pass's highest id, runs finished in the
last ``FINISH_MARGIN``): two passes of overlap cover a transaction that took
its id before a pass and committed after it. Hours before ``rolled_until``
(the last pass's time minus ``CLOSE_GRACE``, truncated to the hour) come from
the rollups; later ones are read live, so the current hour is always exact.
The run path pays nothing. Spans deleted by the trace retention are followed
(cells at the cutoff are recomputed each pass); other deletions (a run or
workflow deleted by hand) are reflected by ``manage.py usage_rollup`` (a full
rebuild). A transaction that commits more than two passes after taking its ids
is missed until that rebuild.
PostgreSQL only; on SQLite (quickstart) the page reads live rows.

Latency histogram: fixed geometric buckets, ratio ``RATIO`` = 1.05. Bucket 0
is [0, 1) ms; bucket i ≥ 1 is [1.05^(i-1), 1.05^i) ms (no upper limit). A
percentile is ``percentile_cont``'s linear interpolation between the two
ranked values around it, each ranked value estimated by spreading its bucket's
count evenly over the bucket. Each estimate lies in the same bucket as the
value it stands for, so the error is below 5 % of the larger of the two
ranked values (below 1 ms under 1 ms).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agents.models import UsageRollupState, UsageSpanHour

RATIO = 1.05
FINISH_MARGIN = dt.timedelta(minutes=5)
CLOSE_GRACE = dt.timedelta(minutes=5)
HOUR = dt.timedelta(hours=1)

_LN_RATIO = math.log(RATIO)
_BUCKET_SQL = (
    "CASE WHEN r.finished_at IS NULL OR r.started_at IS NULL THEN NULL "
    "WHEN EXTRACT(EPOCH FROM (r.finished_at - r.started_at)) * 1000 < 1 THEN 0 "
    f"ELSE floor(ln(EXTRACT(EPOCH FROM (r.finished_at - r.started_at)) * 1000) / {_LN_RATIO!r})::int + 1 END"
)

_SPAN_SELECT = """
    SELECT s.project_id, date_trunc('hour', s.started_at, 'UTC') AS hour, s.endpoint_id, s.model,
        count(*), count(*) FILTER (WHERE s.status = 'error'),
        coalesce(sum(s.input_tokens), 0), coalesce(sum(s.cache_read_tokens), 0),
        coalesce(sum(s.cache_write_tokens), 0), coalesce(sum(s.output_tokens), 0),
        coalesce(sum(s.reasoning_tokens), 0), sum(s.cost_usd),
        count(*) FILTER (WHERE s.cost_usd IS NULL AND s.status = 'ok')
    FROM traces_span s WHERE {where}
    GROUP BY 1, 2, 3, 4
"""
_SPAN_COLUMNS = (
    "project_id, hour, endpoint_id, model, calls, errors, input_tokens, cache_read_tokens, cache_write_tokens, "
    "output_tokens, reasoning_tokens, cost_usd, unknown_calls"
)

_RUN_SELECT = f"""
    SELECT project_id, hour, workflow_id, created_by_id, api_key_id, sum(n), sum(failed), sum(tokens),
        coalesce(sum(cost), 0), sum(unknown),
        coalesce(jsonb_object_agg(b::text, n) FILTER (WHERE b IS NOT NULL), '{{{{}}}}'::jsonb)
    FROM (
        SELECT r.project_id, date_trunc('hour', r.created_at, 'UTC') AS hour, r.workflow_id, r.created_by_id,
            r.api_key_id, {_BUCKET_SQL} AS b, count(*) AS n, count(*) FILTER (WHERE r.status = 'failed') AS failed,
            coalesce(sum(r.input_tokens + r.output_tokens), 0) AS tokens, sum(r.cost_usd) AS cost,
            count(*) FILTER (WHERE r.cost_unknown) AS unknown
        FROM agents_run r WHERE {{where}}
        GROUP BY 1, 2, 3, 4, 5, 6
    ) g
    GROUP BY 1, 2, 3, 4, 5
"""  # noqa: S608 - fixed SQL, values go as parameters
_RUN_COLUMNS = (
    "project_id, hour, workflow_id, created_by_id, api_key_id, runs, failed, tokens, cost_usd, unknown_runs, "
    "latency_hist"
)


_RUN_ROLLED_SQL = """
    WITH c AS (
        SELECT * FROM agents_usagerunhour
        WHERE project_id = %s AND workflow_id = ANY(%s) AND hour >= %s AND hour < %s
    )
    SELECT s.workflow_id, s.created_by_id, s.api_key_id, s.runs, s.failed, s.tokens, s.cost, s.unknown,
        coalesce(h.hist, '{}'::jsonb)
    FROM (
        SELECT workflow_id, created_by_id, api_key_id, sum(runs) AS runs, sum(failed) AS failed,
            sum(tokens) AS tokens, sum(cost_usd) AS cost, sum(unknown_runs) AS unknown
        FROM c GROUP BY 1, 2, 3
    ) s
    LEFT JOIN (
        SELECT workflow_id, created_by_id, api_key_id, jsonb_object_agg(k, n) AS hist
        FROM (
            SELECT workflow_id, created_by_id, api_key_id, e.key AS k, sum(e.value::bigint) AS n
            FROM c, jsonb_each_text(c.latency_hist) AS e GROUP BY 1, 2, 3, 4
        ) x GROUP BY 1, 2, 3
    ) h ON h.workflow_id = s.workflow_id AND h.created_by_id IS NOT DISTINCT FROM s.created_by_id
        AND h.api_key_id IS NOT DISTINCT FROM s.api_key_id
"""


def available() -> bool:
    """Whether rollups exist on this database (PostgreSQL)."""
    return connection.vendor == "postgresql"


def bucket_of(ms: float) -> int:
    """The histogram bucket of a wall time in ms (see the module docstring)."""
    return 0 if ms < 1 else math.floor(math.log(ms) / _LN_RATIO) + 1


def bucket_bounds(index: int) -> tuple[float, float]:
    """``(low, high)`` ms of bucket ``index``."""
    return (0.0, 1.0) if index == 0 else (RATIO ** (index - 1), RATIO**index)


def hist_percentile(hist: dict[int, int], fraction: float) -> float | None:
    """``percentile_cont(fraction)`` (ms) estimated from a histogram ``{bucket: count}``; None when empty.
    Error: see the module docstring."""
    total = sum(hist.values())
    if not total:
        return None
    pos = (total - 1) * fraction
    low = math.floor(pos)
    ranks = _rank_values(hist, {low, min(low + 1, total - 1)})
    return ranks[low] + (ranks[min(low + 1, total - 1)] - ranks[low]) * (pos - low)


def _rank_values(hist: dict[int, int], wanted: set[int]) -> dict[int, float]:
    """The estimated value of each 0-based rank in ``wanted``: spread evenly over its bucket."""
    found: dict[int, float] = {}
    before = 0
    for index in sorted(hist):
        count = hist[index]
        lo, hi = bucket_bounds(index)
        for rank in wanted:
            if before <= rank < before + count:
                found[rank] = lo + (hi - lo) * (rank - before + 0.5) / count
        before += count
    return found


# ------------------------------------------------------------------ maintenance


def _exec(sql: str, params: Iterable[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, list(params))


def rebuild_all() -> None:
    """Recompute every cell from scratch (``manage.py usage_rollup``; the first pass does it too)."""
    with transaction.atomic():
        _exec("DELETE FROM agents_usagespanhour", [])
        _exec("DELETE FROM agents_usagerunhour", [])
        _exec(f"INSERT INTO agents_usagespanhour ({_SPAN_COLUMNS}) " + _SPAN_SELECT.format(where="true"), [])
        _exec(f"INSERT INTO agents_usagerunhour ({_RUN_COLUMNS}) " + _RUN_SELECT.format(where="true"), [])


def rebuild_hours(cells: dict[int, set[dt.datetime]]) -> None:
    """Recompute the cells of ``{project id: {UTC hour, ...}}`` (each hour in full), in the caller's
    transaction."""
    for project_id, hours in cells.items():
        if not hours:
            continue
        hour_list = sorted(hours)
        bounds = [project_id, hour_list[0], hour_list[-1] + HOUR, hour_list]
        _exec("DELETE FROM agents_usagespanhour WHERE project_id = %s AND hour = ANY(%s)", [project_id, hour_list])
        _exec("DELETE FROM agents_usagerunhour WHERE project_id = %s AND hour = ANY(%s)", [project_id, hour_list])
        span_where = (
            "s.project_id = %s AND s.started_at >= %s AND s.started_at < %s "
            "AND date_trunc('hour', s.started_at, 'UTC') = ANY(%s)"
        )
        run_where = (
            "r.project_id = %s AND r.created_at >= %s AND r.created_at < %s "
            "AND date_trunc('hour', r.created_at, 'UTC') = ANY(%s)"
        )
        _exec(f"INSERT INTO agents_usagespanhour ({_SPAN_COLUMNS}) " + _SPAN_SELECT.format(where=span_where), bounds)
        _exec(f"INSERT INTO agents_usagerunhour ({_RUN_COLUMNS}) " + _RUN_SELECT.format(where=run_where), bounds)


def _max_id(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 - fixed table names
        return int(cur.fetchone()[0])


def rollup_pass(now: dt.datetime | None = None) -> int:
    """One pass of the beat task: recompute the cells touched since the pass before the last one and
    move ``rolled_until``. Returns how many (project, hour) cells were recomputed (-1: full rebuild;
    0 on SQLite). Concurrent passes are serialised by a row lock on the state."""
    if not available():
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        state = UsageRollupState.objects.select_for_update().first()
        span_max, run_max = _max_id("traces_span"), _max_id("agents_run")
        rolled_until = (now - CLOSE_GRACE).replace(minute=0, second=0, microsecond=0)
        if state is None:
            rebuild_all()
            UsageRollupState.objects.create(
                rolled_until=rolled_until, passed_at=now, span_id_seen=span_max, run_id_seen=run_max
            )
            return -1
        cells: dict[int, set[dt.datetime]] = defaultdict(set)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT project_id, date_trunc('hour', started_at, 'UTC') FROM traces_span WHERE id > %s",
                [state.span_id_seen_before],
            )
            rows = cur.fetchall()
            cur.execute(
                "SELECT DISTINCT project_id, date_trunc('hour', created_at, 'UTC') FROM agents_run "
                "WHERE id > %s OR finished_at >= %s",
                [state.run_id_seen_before, state.passed_at - FINISH_MARGIN],
            )
            rows += cur.fetchall()
        rows += _retention_cells(now)
        for project_id, hour in rows:
            cells[project_id].add(hour)
        rebuild_hours(cells)
        state.span_id_seen_before, state.span_id_seen = state.span_id_seen, span_max
        state.run_id_seen_before, state.run_id_seen = state.run_id_seen, run_max
        state.rolled_until, state.passed_at = max(rolled_until, state.rolled_until), now
        state.save()
        return sum(len(h) for h in cells.values())


def _retention_cells(now: dt.datetime) -> list[tuple[int, dt.datetime]]:
    """Span cells at or before a project's trace retention cutoff (``traces.services.retention_enforce``
    deletes those spans): recomputed each pass until the cells are empty, so the rollups follow the
    deletions."""
    from studio.models import Project

    found: list[tuple[int, dt.datetime]] = []
    for pk, days in Project.objects.filter(trace_retention_days__isnull=False).values_list(
        "pk", "trace_retention_days"
    ):
        cutoff = now - dt.timedelta(days=days or 0) + HOUR
        hours = UsageSpanHour.objects.filter(project_id=pk, hour__lt=cutoff).values_list("hour", flat=True)
        found += [(pk, hour) for hour in set(hours)]
    return found


def rolled_until() -> dt.datetime | None:
    """Hours before this come from the rollups; None when no pass has run (read everything live)."""
    if not available():
        return None
    return UsageRollupState.objects.values_list("rolled_until", flat=True).first()


# ------------------------------------------------------------------ reading


def span_rows(
    project_id: int, start: dt.datetime, split: dt.datetime, end: dt.datetime, bucket: str = "hour"
) -> list[dict[str, Any]]:
    """Span cells of the project over [start, end): the rollups before ``split`` summed per ``bucket``
    (hour/day/week in the current time zone; ``hour`` holds the bucket's start), live hourly rows after."""
    fields = [c.strip() for c in _SPAN_COLUMNS.split(",")]
    sums = ", ".join(f"sum({f})" for f in fields[4:])
    with connection.cursor() as cur:  # the closed hours, summed per bucket of the page in SQL
        cur.execute(
            f"SELECT project_id, date_trunc(%s, hour, %s), endpoint_id, model, {sums} "  # noqa: S608 - fixed names
            "FROM agents_usagespanhour WHERE project_id = %s AND hour >= %s AND hour < %s GROUP BY 1, 2, 3, 4",
            [bucket, timezone.get_current_timezone_name(), project_id, start, split],
        )
        rows = [dict(zip(fields, row, strict=True)) for row in cur.fetchall()]
    if split < end:
        where = "s.project_id = %s AND s.started_at >= %s AND s.started_at < %s"
        with connection.cursor() as cur:
            cur.execute(_SPAN_SELECT.format(where=where), [project_id, split, end])
            rows += [dict(zip(fields, row, strict=True)) for row in cur.fetchall()]
    return rows


def run_rows(
    project_id: int, workflow_ids: list[int], start: dt.datetime, split: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Run cells of the project's ``workflow_ids`` over [start, end): the rollups before ``split`` summed
    per (workflow, user, API key) with merged histograms, live hourly rows after; ``latency_hist`` keys
    are ints."""
    fields = [c.strip() for c in _RUN_COLUMNS.split(",")]
    with connection.cursor() as cur:  # the closed hours, summed per (workflow, user, key) in SQL
        cur.execute(_RUN_ROLLED_SQL, [project_id, workflow_ids, start, split])
        rows = [dict(zip(fields, (project_id, start, *row), strict=True)) for row in cur.fetchall()]
    if split < end:
        where = "r.project_id = %s AND r.workflow_id = ANY(%s) AND r.created_at >= %s AND r.created_at < %s"
        with connection.cursor() as cur:
            cur.execute(_RUN_SELECT.format(where=where), [project_id, workflow_ids, split, end])
            rows += [dict(zip(fields, row, strict=True)) for row in cur.fetchall()]
    for row in rows:
        hist = row["latency_hist"]
        if isinstance(hist, str):
            import json

            hist = json.loads(hist)
        row["latency_hist"] = {int(k): int(v) for k, v in hist.items()}
        row["cost_usd"] = row["cost_usd"] if row["cost_usd"] is not None else Decimal("0")
    return rows
