"""Prometheus metrics at ``/metrics``, computed at scrape time from PostgreSQL and the shared counters.

Multi-process: the studio runs in several processes (web, Celery workers,
beat); instead of prometheus-client's multiprocess mode (a directory of
mmap files per process, wiped on deploy), every value is read when
scraped from what all processes already share: the database (runs, steps,
spans) and :mod:`studio.lib.counters` (Redis: lease expiries, sweeper
recoveries). Counters therefore survive restarts; deleting old rows
(retention) lowers them, which Prometheus reads as a counter reset. A
scrape costs a few grouped aggregates over runs, steps and spans: scrape
every 15 s or slower.

Protected by a bearer token (``STUDIO_METRICS_TOKEN``): unset → 404 (the
page does not exist), wrong or missing token → 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agents.models import TERMINAL_RUN_STATUSES, Run, RunStatus, Step
from agents.services.sweeper import LEASE_EXPIRIES, SWEEPER_RECOVERIES
from studio.lib.counters import counter_values
from traces.models import MODEL_CALL_KINDS, Span

#: Step duration histogram buckets, seconds.
STEP_BUCKETS_S = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
TOKEN_PARTS = ("input", "cache_read", "cache_write", "output", "reasoning")


class StudioCollector:
    """Yields the studio's metric families (see the module doc)."""

    def collect(self) -> Iterator[Any]:
        yield from _runs()
        yield _steps()
        yield from _spans()
        counters = counter_values([LEASE_EXPIRIES, SWEEPER_RECOVERIES])
        yield CounterMetricFamily(
            "studio_lease_expiries",
            "Runs found running with an expired lease (worker lost).",
            value=counters[LEASE_EXPIRIES],
        )
        yield CounterMetricFamily(
            "studio_sweeper_recoveries", "Runs the sweeper dispatched again.", value=counters[SWEEPER_RECOVERIES]
        )


def _runs() -> Iterator[Any]:
    started = CounterMetricFamily("studio_runs_started", "Runs started.", labels=["project"])
    for row in Run.objects.values("project__slug").annotate(n=Count("id")).order_by("project__slug"):
        started.add_metric([row["project__slug"]], row["n"])
    yield started
    finished = CounterMetricFamily("studio_runs_finished", "Runs finished, by status.", labels=["project", "status"])
    rows = (
        Run.objects.filter(status__in=TERMINAL_RUN_STATUSES)
        .values("project__slug", "status")
        .annotate(n=Count("id"))
        .order_by("project__slug", "status")
    )
    for row in rows:
        finished.add_metric([row["project__slug"], row["status"]], row["n"])
    yield finished
    depth = GaugeMetricFamily("studio_queue_depth", "Runs waiting for a worker (queued).", labels=["project"])
    running = GaugeMetricFamily("studio_runs_running", "Runs executing now.", labels=["project"])
    rows = (
        Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .values("project__slug", "status")
        .annotate(n=Count("id"))
        .order_by("project__slug")
    )
    for row in rows:
        (depth if row["status"] == RunStatus.QUEUED else running).add_metric([row["project__slug"]], row["n"])
    yield depth
    yield running


def _steps() -> Any:
    family = HistogramMetricFamily(
        "studio_step_duration_seconds", "Duration of finished steps, by node type.", labels=["node_type"]
    )
    buckets = {f"le{i}": Count("id", filter=Q(duration_ms__lte=bound * 1000)) for i, bound in enumerate(STEP_BUCKETS_S)}
    rows = (
        Step.objects.filter(finished_at__isnull=False, reused=False)
        .values("node_type")
        .annotate(n=Count("id"), total_ms=Sum("duration_ms"), **buckets)
        .order_by("node_type")
    )
    for row in rows:
        cumulative = [(str(bound), row[f"le{i}"]) for i, bound in enumerate(STEP_BUCKETS_S)]
        family.add_metric([row["node_type"]], [*cumulative, ("+Inf", row["n"])], (row["total_ms"] or 0) / 1000)
    return family


def _spans() -> Iterator[Any]:
    tokens = CounterMetricFamily(
        "studio_tokens", "Tokens of model calls, by endpoint and disjoint part.", labels=["project", "endpoint", "part"]
    )
    cost = CounterMetricFamily(
        "studio_cost_usd", "Known cost of model calls in USD, by endpoint.", labels=["project", "endpoint"]
    )
    calls = CounterMetricFamily(
        "studio_model_calls", "Model calls, by endpoint and status.", labels=["project", "endpoint", "status"]
    )
    unknown = CounterMetricFamily(
        "studio_model_calls_unknown_price", "Model calls whose price is unknown.", labels=["project", "endpoint"]
    )
    rows = (
        Span.objects.filter(kind__in=MODEL_CALL_KINDS)
        .values("project__slug", "endpoint__slug", "model")
        .annotate(
            ok=Count("id", filter=Q(status="ok")),
            error=Count("id", filter=Q(status="error")),
            unknown=Count("id", filter=Q(status="ok", cost_usd__isnull=True)),
            usd=Sum("cost_usd"),
            **{part: Sum(f"{part}_tokens") for part in TOKEN_PARTS},
        )
        .order_by("project__slug", "endpoint__slug", "model")
    )
    for row in rows:
        labels = [row["project__slug"], row["endpoint__slug"] or row["model"] or "(none)"]
        for part in TOKEN_PARTS:
            tokens.add_metric([*labels, part], row[part] or 0)
        cost.add_metric(labels, float(row["usd"] or 0))
        calls.add_metric([*labels, "ok"], row["ok"])
        calls.add_metric([*labels, "error"], row["error"])
        unknown.add_metric(labels, row["unknown"])
    yield tokens
    yield cost
    yield calls
    yield unknown


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition, for ``Authorization: Bearer <STUDIO_METRICS_TOKEN>`` only."""
    token = settings.STUDIO_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off (set STUDIO_METRICS_TOKEN).")
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StudioCollector())  # type: ignore[arg-type]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
