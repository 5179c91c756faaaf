"""Usage of a project over a time range: cost and tokens over time, by endpoint/model, workflow and user;
runs, error rate and p50/p95 latency.

Sources: model calls (spans) give tokens and cost over time and by
endpoint/model — every call, external ones included; runs give the per-run
figures (by workflow and by user, error rate, latency = the run's wall time).

Costs are USD summed over calls whose price is known; ``unknown_calls``
counts calls with no known price (a successful span with ``cost_usd`` NULL),
so a total with unknowns is a lower bound and is shown as such, never as a
complete $ figure. Tokens are counts; latencies ms. Percentiles are
PostgreSQL's ``percentile_cont`` (linear interpolation); other databases
(quickstart's SQLite) compute the same in Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from agents.fragments import format_usd
from agents.models import Run, RunStatus, Workflow
from agents.observability import rollups
from agents.observability.filters import day_start
from agents.selectors import runs_visible, workflows_visible
from agents.services.budgets import month_start
from studio.lib.percentiles import Percentile, percentile
from studio.models import ApiKey, Project
from traces.models import ModelEndpoint, Span, SpanStatus

BUCKETS = ("hour", "day", "week")
MAX_BUCKETS = 1000
DEFAULT_DAYS = {"hour": 2, "day": 30, "week": 182}


class UsageForm(forms.Form):
    """The range (``date_from``..``date_to`` inclusive, days) and the bucket of the usage page."""

    bucket = forms.ChoiceField(required=False, choices=[(b, b) for b in BUCKETS])
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        bucket = data.get("bucket") or "day"
        data["bucket"] = bucket
        today = timezone.localdate()
        end_day = data.get("date_to") or today
        start_day = data.get("date_from") or end_day - dt.timedelta(days=DEFAULT_DAYS[bucket] - 1)
        if start_day > end_day:
            self.add_error("date_to", "Must not be before the start.")
            return data
        start, end = day_start(start_day), day_start(end_day + dt.timedelta(days=1))
        size = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(weeks=1)}[bucket]
        if (end - start) / size > MAX_BUCKETS:
            self.add_error("bucket", f"Too many {bucket}s in this range (at most {MAX_BUCKETS}): pick a larger bucket.")
        data["start"], data["end"] = start, end
        data["start_day"], data["end_day"] = start_day, end_day
        return data



def _spans(project: Project, start: dt.datetime, end: dt.datetime) -> QuerySet[Span]:
    return Span.objects.filter(project_id=project.pk, started_at__gte=start, started_at__lt=end)


_UNKNOWN = Q(cost_usd__isnull=True, status=SpanStatus.OK)


def _span_sums() -> dict[str, Any]:
    return {
        "calls": Count("id"),
        "errors": Count("id", filter=Q(status=SpanStatus.ERROR)),
        # prompt side = fresh input + cache read + cache write; completion side = output + reasoning
        # (the span's parts are disjoint, so each token is counted once)
        "in_tokens": Coalesce(Sum(F("input_tokens") + F("cache_read_tokens") + F("cache_write_tokens")), 0),
        "out_tokens": Coalesce(Sum(F("output_tokens") + F("reasoning_tokens")), 0),
        "fresh_tokens": Coalesce(Sum("input_tokens"), 0),
        "cache_read": Coalesce(Sum("cache_read_tokens"), 0),
        "cache_write": Coalesce(Sum("cache_write_tokens"), 0),
        "output_only": Coalesce(Sum("output_tokens"), 0),
        "reasoning": Coalesce(Sum("reasoning_tokens"), 0),
        "cost": Sum("cost_usd"),
        "unknown_calls": Count("id", filter=_UNKNOWN),
    }


def usage_cells(*, project: Project, start: dt.datetime, end: dt.datetime, bucket: str) -> list[dict[str, Any]]:
    """One scan of the spans: per ``bucket`` (``at``) and (``endpoint``, ``model``) the span sums of
    :func:`_span_sums`. :func:`usage_series` and :func:`usage_by_model` are folded from these cells,
    so the page reads the span table once."""
    split = _rollup_split(start, end)
    if split is not None:
        return _cells_from_rollups(project, start, split, end, bucket)
    rows = usage_rows_for_csv(project=project, start=start, end=end, bucket=bucket)
    return [{**row, "endpoint": row.pop("endpoint__slug") or ""} for row in rows]


def _rollup_split(start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    """Where the hourly rollups stop and live rows start for [start, end) (``start`` when no hour of the
    range is rolled up yet); None when rollups cannot serve the range: none on this database, or a time
    zone whose offset is not whole hours (a UTC hour would straddle two local buckets)."""
    until = rollups.rolled_until()
    if until is None:
        return None
    for when in (start, end):
        offset = timezone.localtime(when).utcoffset() or dt.timedelta(0)
        if offset % dt.timedelta(hours=1):
            return None
    return min(max(until, start), end)


def _cells_from_rollups(
    project: Project, start: dt.datetime, split: dt.datetime, end: dt.datetime, bucket: str
) -> list[dict[str, Any]]:
    """:func:`usage_cells` folded from the hourly span rollups (before ``split``) and live rows (after)."""
    slugs = dict(ModelEndpoint.objects.filter(project_id=project.pk).values_list("pk", "slug"))
    cells: dict[tuple[Any, str, str], dict[str, Any]] = {}
    for row in rollups.span_rows(project.pk, start, split, end, bucket):
        at = _bucket_start(row["hour"], bucket)
        endpoint = slugs.get(row["endpoint_id"], "") if row["endpoint_id"] else ""
        cell = cells.get((at, endpoint, row["model"]))
        if cell is None:
            cell = cells[(at, endpoint, row["model"])] = {
                **dict.fromkeys(_span_sums(), 0),
                "cost": None,
                "at": at,
                "endpoint": endpoint,
                "model": row["model"],
            }
        parts = {
            "fresh_tokens": row["input_tokens"],
            "cache_read": row["cache_read_tokens"],
            "cache_write": row["cache_write_tokens"],
            "output_only": row["output_tokens"],
            "reasoning": row["reasoning_tokens"],
            "calls": row["calls"],
            "errors": row["errors"],
            "unknown_calls": row["unknown_calls"],
        }
        for key, value in parts.items():
            cell[key] += value
        cell["in_tokens"] += row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"]
        cell["out_tokens"] += row["output_tokens"] + row["reasoning_tokens"]
        if row["cost_usd"] is not None:
            cell["cost"] = (cell["cost"] or Decimal("0")) + row["cost_usd"]
    return sorted(cells.values(), key=lambda c: (c["at"], c["endpoint"], c["model"]))


def _fold(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum cells; ``cost`` stays None when no cell had a priced call."""
    total: dict[str, Any] = dict.fromkeys(_span_sums(), 0)
    total["cost"] = None
    for cell in cells:
        for key in total:
            if key == "cost":
                if cell["cost"] is not None:
                    total["cost"] = (total["cost"] or Decimal("0")) + cell["cost"]
            else:
                total[key] += cell[key]
    return total


def usage_series(
    *, project: Project, start: dt.datetime, end: dt.datetime, bucket: str, cells: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per ``bucket`` (hour/day/week, in the current time zone) from ``start`` to ``end``: ``calls``,
    ``errors``, ``in_tokens`` (fresh input + cache read + cache write), ``out_tokens`` (output +
    reasoning), the disjoint parts (``fresh_tokens``, ``cache_read``, ``cache_write``,
    ``output_only``, ``reasoning``), ``cost`` (USD of known prices, None when no call was priced)
    and ``unknown_calls``. Empty buckets are included (zeros, cost None). ``cells``: from
    :func:`usage_cells` when the caller has them already."""
    if cells is None:
        cells = usage_cells(project=project, start=start, end=end, bucket=bucket)
    by_at: dict[dt.datetime, list[dict[str, Any]]] = {}
    for cell in cells:
        by_at.setdefault(cell["at"], []).append(cell)
    step = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(weeks=1)}[bucket]
    naive = _bucket_start(start, bucket).replace(tzinfo=None)  # step in wall-clock time (DST-safe)
    series = []
    while (at := timezone.make_aware(naive)) < end:
        series.append({**_fold(by_at.get(at, [])), "at": at})
        naive += step
    return series


def _bucket_start(when: dt.datetime, bucket: str) -> dt.datetime:
    local = timezone.localtime(when)
    if bucket == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if bucket == "week":
            local -= dt.timedelta(days=local.weekday())
    return local


def usage_by_model(
    *, project: Project, start: dt.datetime, end: dt.datetime, cells: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per (``endpoint`` slug, ``model``), most expensive first: the sums of :func:`usage_series`."""
    if cells is None:
        cells = usage_cells(project=project, start=start, end=end, bucket="day")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["endpoint"], cell["model"]), []).append(cell)
    rows = [{**_fold(group), "endpoint": endpoint, "model": model} for (endpoint, model), group in groups.items()]
    return sorted(rows, key=lambda r: (r["cost"] is None, -(r["cost"] or 0), -r["calls"]))


def usage_rows_for_csv(*, project: Project, start: dt.datetime, end: dt.datetime, bucket: str) -> QuerySet[Any]:
    """Per bucket and (endpoint, model): the span sums, for the CSV export (streamed by the caller)."""
    return (
        _spans(project, start, end)
        .annotate(at=Trunc("started_at", bucket, tzinfo=timezone.get_current_timezone()))
        .values("at", "endpoint__slug", "model")
        .annotate(**_span_sums())
        .order_by("at", "endpoint__slug", "model")
    )


def _runs(user: Any, project: Project, start: dt.datetime, end: dt.datetime) -> QuerySet[Run]:
    return (
        runs_visible(user=user, project=project)
        .filter(project=project, created_at__gte=start, created_at__lt=end)
        .order_by()
    )


def _run_sums() -> dict[str, Any]:
    return {
        "runs": Count("id"),
        "failed": Count("id", filter=Q(status=RunStatus.FAILED)),
        "tokens": Coalesce(Sum(F("input_tokens") + F("output_tokens")), 0),
        "cost": Coalesce(Sum("cost_usd"), Decimal("0")),
        "unknown_runs": Count("id", filter=Q(cost_unknown=True)),
    }


def _with_latency(qs: QuerySet[Any], group: list[str]) -> list[dict[str, Any]]:
    """Rows of ``qs`` grouped by ``group`` with :func:`_run_sums` and ``p50_ms``/``p95_ms`` of finished runs."""
    finished = Q(finished_at__isnull=False, started_at__isnull=False)
    if connection.vendor == "postgresql":
        from django.db.models.expressions import RawSQL

        ms = RawSQL("EXTRACT(EPOCH FROM (agents_run.finished_at - agents_run.started_at)) * 1000", [])
        rows = list(
            qs.values(*group).annotate(
                **_run_sums(),
                p50_ms=Percentile(ms, 0.5, filter=finished),
                p95_ms=Percentile(ms, 0.95, filter=finished),
            )
        )
    else:
        rows = list(qs.values(*group).annotate(**_run_sums()))
        for row in rows:
            # values_list, not only(): the run queryset may carry select_related("workflow"), which
            # Django refuses to combine with deferring that very field.
            durations = sorted(
                (finished_at - started_at).total_seconds() * 1000
                for started_at, finished_at in qs.filter(finished, **{g: row[g] for g in group}).values_list(
                    "started_at", "finished_at"
                )
            )
            row["p50_ms"], row["p95_ms"] = percentile(durations, 0.5), percentile(durations, 0.95)
    for row in rows:
        row["error_rate"] = row["failed"] / row["runs"] if row["runs"] else 0.0
    return rows



@dataclass(frozen=True)
class RunStats:
    """Runs in the range: count, failed, error rate (0-1), p50/p95 wall time (ms, None without a finished run),
    tokens, cost (USD, known prices) and how many runs had a call with an unknown price."""

    runs: int
    failed: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    tokens: int
    cost: Decimal
    unknown_runs: int


def run_stats(
    *, user: Any, project: Project, start: dt.datetime, end: dt.datetime, rows: list[dict[str, Any]] | None = None
) -> RunStats:
    """The project's run figures over the range (runs the user may see)."""
    rolled = _run_groups_from_rollups(user, project, start, end, lambda r: (), rows)
    rows = (
        list(rolled.values())
        if rolled is not None
        else _with_latency(_runs(user, project, start, end).annotate(all=F("project_id")), ["all"])
    )
    row = (
        rows[0]
        if rows
        else {
            "runs": 0,
            "failed": 0,
            "error_rate": 0.0,
            "p50_ms": None,
            "p95_ms": None,
            "tokens": 0,
            "cost": Decimal("0"),
            "unknown_runs": 0,
        }
    )
    return RunStats(**{k: row[k] for k in RunStats.__dataclass_fields__})


def usage_by_workflow(
    *, user: Any, project: Project, start: dt.datetime, end: dt.datetime, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per workflow (slug, name): runs, failed, error_rate, tokens, cost, unknown_runs, p50_ms, p95_ms."""
    rolled = _run_groups_from_rollups(user, project, start, end, lambda r: r["workflow_id"], rows)
    if rolled is None:
        rows = _with_latency(_runs(user, project, start, end), ["workflow__slug", "workflow__name"])
    else:
        names = {w.pk: (w.slug, w.name) for w in Workflow.objects.filter(pk__in=list(rolled)).only("slug", "name")}
        rows = [{**row, "workflow__slug": names[pk][0], "workflow__name": names[pk][1]} for pk, row in rolled.items()]
    return sorted(rows, key=lambda r: (-r["cost"], -r["runs"]))


def usage_by_user(
    *, user: Any, project: Project, start: dt.datetime, end: dt.datetime, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per user who started runs (``created_by__username``, None for runs started by the system) and API key
    (``api_key__name``/``api_key__prefix``, None from a page or the CLI): as by workflow."""
    rolled = _run_groups_from_rollups(user, project, start, end, lambda r: (r["created_by_id"], r["api_key_id"]), rows)
    if rolled is None:
        rows = _with_latency(
            _runs(user, project, start, end), ["created_by__username", "api_key__name", "api_key__prefix"]
        )
    else:
        users = dict(
            get_user_model().objects.filter(pk__in=[k[0] for k in rolled if k[0]]).values_list("pk", "username")
        )
        keys = {k.pk: (k.name, k.prefix) for k in ApiKey.objects.filter(pk__in=[k[1] for k in rolled if k[1]])}
        rows = [
            {
                **row,
                "created_by__username": users.get(user_id) if user_id else None,
                "api_key__name": keys[key_id][0] if key_id in keys else None,
                "api_key__prefix": keys[key_id][1] if key_id in keys else None,
            }
            for (user_id, key_id), row in rolled.items()
        ]
    return sorted(rows, key=lambda r: (-r["cost"], -r["runs"]))


def _run_groups_from_rollups(
    user: Any,
    project: Project,
    start: dt.datetime,
    end: dt.datetime,
    key: Any,
    rows: list[dict[str, Any]] | None = None,
) -> dict[Any, dict[str, Any]] | None:
    """Run figures grouped by ``key(row)`` from the hourly run rollups (before the split) and live rows
    (after), for the workflows the user may see: :func:`_run_sums` plus ``error_rate`` and
    ``p50_ms``/``p95_ms`` estimated from the merged latency histograms (error bound: see
    :mod:`agents.observability.rollups`). None when rollups cannot serve the range."""
    if rows is None:
        rows = _rolled_run_rows(user, project, start, end)
    if rows is None:
        return None
    groups: dict[Any, dict[str, Any]] = {}
    hists: dict[Any, dict[int, int]] = {}
    for row in rows:
        k = key(row)
        group = groups.setdefault(k, {"runs": 0, "failed": 0, "tokens": 0, "cost": Decimal("0"), "unknown_runs": 0})
        group["runs"] += row["runs"]
        group["failed"] += row["failed"]
        group["tokens"] += row["tokens"]
        group["cost"] += row["cost_usd"]
        group["unknown_runs"] += row["unknown_runs"]
        hist = hists.setdefault(k, {})
        for index, count in row["latency_hist"].items():
            hist[index] = hist.get(index, 0) + count
    for k, group in groups.items():
        group["error_rate"] = group["failed"] / group["runs"] if group["runs"] else 0.0
        group["p50_ms"] = rollups.hist_percentile(hists[k], 0.5)
        group["p95_ms"] = rollups.hist_percentile(hists[k], 0.95)
    return groups


def _rolled_run_rows(user: Any, project: Project, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]] | None:
    """The run cells of :func:`agents.observability.rollups.run_rows` for the workflows the user may see;
    None when rollups cannot serve the range."""
    split = _rollup_split(start, end)
    if split is None:
        return None
    workflow_ids = list(
        workflows_visible(user=user, project=project, include_deleted=True).values_list("pk", flat=True)
    )
    return rollups.run_rows(project.pk, workflow_ids, start, split, end)


@dataclass(frozen=True)
class RunFigures:
    """What the usage page shows of runs: :func:`run_stats`, :func:`usage_by_workflow`, :func:`usage_by_user`."""

    stats: RunStats
    by_workflow: list[dict[str, Any]]
    by_user: list[dict[str, Any]]


def run_figures(*, user: Any, project: Project, start: dt.datetime, end: dt.datetime) -> RunFigures:
    """The three run views of the usage page from one read of the run rollups (same figures as calling
    each function)."""
    rows = _rolled_run_rows(user, project, start, end)
    args = {"user": user, "project": project, "start": start, "end": end, "rows": rows}
    return RunFigures(run_stats(**args), usage_by_workflow(**args), usage_by_user(**args))


def workflow_month_totals(*, workflow_ids: list[int], now: dt.datetime | None = None) -> dict[int, dict[str, Any]]:
    """Per workflow id, its runs since the first of this month: ``runs``, ``failed``, ``error_rate`` (0-1),
    ``cost`` (USD, known prices), ``unknown_runs`` and ``cost_text`` (``≥ $x`` when some price was unknown).

    The caller has checked the user may view these workflows. Workflows without runs are absent.
    """
    rows = (
        Run.objects.filter(workflow_id__in=workflow_ids, created_at__gte=month_start(now))
        .order_by()
        .values("workflow_id")
        .annotate(**{k: v for k, v in _run_sums().items() if k != "tokens"})
    )
    totals = {}
    for row in rows:
        row["error_rate"] = row["failed"] / row["runs"] if row["runs"] else 0.0
        row["cost_text"] = ("≥ " if row["unknown_runs"] else "") + format_usd(row["cost"])
        totals[row["workflow_id"]] = row
    return totals
