"""The usage page (``/p/<project>/usage/``) and its CSV export.

Chart data goes to the page in a ``json_script`` element that
``static/js/usage.js`` reads (the CSP forbids inline scripts).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from agents.fragments import format_duration, format_tokens, format_usd
from agents.observability import usage as sel
from agents.views.pages import _page
from studio.selectors import access_project

LABEL_FORMAT = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "week": "week of %Y-%m-%d"}


def _cost_text(cost: Any, unknown: int) -> str:
    """``$1.27``; ``≥ $1.27`` when some calls had no known price; ``unknown`` when none had one."""
    if unknown and cost is None:
        return "unknown"
    return ("≥ " if unknown else "") + format_usd(cost or Decimal("0"))


def _chart_data(series: list[dict[str, Any]], bucket: str) -> dict[str, Any]:
    """Labels and datasets for ``static/js/usage.js``: tokens (in/out), cost (USD: null where every
    call's price was unknown — a gap, never $0) and the count of unknown-price calls per bucket."""
    return {
        "labels": [row["at"].strftime(LABEL_FORMAT[bucket]) for row in series],
        "input_tokens": [row["in_tokens"] for row in series],
        "output_tokens": [row["out_tokens"] for row in series],
        "cost_usd": [
            None if (row["cost"] is None and row["unknown_calls"]) else float(row["cost"] or 0) for row in series
        ],
        "unknown_calls": [row["unknown_calls"] for row in series],
        "calls": [row["calls"] for row in series],
    }


def _row_view(row: dict[str, Any], *, unknown_key: str) -> dict[str, Any]:
    return {
        **row,
        "cost_text": _cost_text(row.get("cost"), row.get(unknown_key, 0)),
        "p50": format_duration(row.get("p50_ms")) if "p50_ms" in row else "",
        "p95": format_duration(row.get("p95_ms")) if "p95_ms" in row else "",
        "error_pct": f"{row['error_rate'] * 100:.1f} %" if "error_rate" in row else "",
    }


@login_required
@require_GET
def usage_page(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Cost and tokens over time and by endpoint/model, workflow and user; runs, error rate, p50/p95."""
    project = access_project(user=request.user, slug=project_slug)
    form = sel.UsageForm(request.GET)
    context: dict[str, Any] = {"project": project, "form": form, "query": request.GET.urlencode()}
    if not form.is_valid():
        return _page(request, "agents/observability/usage.html", context, status=400)
    data = form.cleaned_data
    start, end, bucket = data["start"], data["end"], data["bucket"]
    cells = sel.usage_cells(project=project, start=start, end=end, bucket=bucket)  # one scan of the spans
    series = sel.usage_series(project=project, start=start, end=end, bucket=bucket, cells=cells)
    runs = sel.run_figures(user=request.user, project=project, start=start, end=end)  # one read of the runs
    stats = runs.stats
    models = sel.usage_by_model(project=project, start=start, end=end, cells=cells)
    totals = {
        "calls": sum(r["calls"] for r in series),
        "tokens": format_tokens(sum(r["in_tokens"] + r["out_tokens"] for r in series)),
        "unknown_calls": sum(r["unknown_calls"] for r in series),
    }
    known = [r["cost"] for r in series if r["cost"] is not None]
    totals["cost_text"] = _cost_text(sum(known, Decimal("0")) if known else None, totals["unknown_calls"])
    context.update(
        bucket=bucket,
        start_day=data["start_day"],
        end_day=data["end_day"],
        stats=stats,
        totals=totals,
        p50=format_duration(stats.p50_ms),
        p95=format_duration(stats.p95_ms),
        error_pct=f"{stats.error_rate * 100:.1f} %",
        chart=_chart_data(series, bucket),
        by_model=[_row_view(r, unknown_key="unknown_calls") for r in models],
        by_workflow=[_row_view(r, unknown_key="unknown_runs") for r in runs.by_workflow],
        by_user=[_row_view(r, unknown_key="unknown_runs") for r in runs.by_user],
    )
    return _page(request, "agents/observability/usage.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "bucket_start",
    "endpoint",
    "model",
    "calls",
    "errors",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unknown_price_calls",
]


@login_required
@require_GET
def usage_export(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Model calls per bucket and endpoint/model over the page's range, as CSV (streamed).

    Token columns are the spans' disjoint parts (``input_tokens`` is fresh
    input: no cache read or write; ``output_tokens`` excludes reasoning).
    ``cost_usd`` sums known prices only and is empty when no call of the row
    had a known price; ``unknown_price_calls`` says how many had none.
    """
    project = access_project(user=request.user, slug=project_slug)
    form = sel.UsageForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(problems, status=400, content_type="text/plain")
    data = form.cleaned_data
    rows = sel.usage_rows_for_csv(project=project, start=data["start"], end=data["end"], bucket=data["bucket"])
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_HEADER)
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    row["at"].isoformat(),
                    row["endpoint__slug"] or "",
                    _csv_safe(row["model"]),
                    row["calls"],
                    row["errors"],
                    row["fresh_tokens"],
                    row["cache_read"],
                    row["cache_write"],
                    row["output_only"],
                    row["reasoning"],
                    "" if row["cost"] is None else f"{row['cost']:f}",
                    row["unknown_calls"],
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"usage-{project.slug}-{data['start_day']}-{data['end_day']}-{data['bucket']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (``=``, ``+``, ``-``, ``@`` prefixed with ``'``)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
