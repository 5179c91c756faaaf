"""Writes for model endpoints and traces (multi-row, atomic)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from studio.models import Project
from studio.services import audit_record
from traces.models import ModelEndpoint, Span, StructuredOutput, Trace, TraceSource

LOCAL_ENDPOINT_SLUG = "local"


@transaction.atomic
def endpoint_ensure_local(*, project: Project) -> ModelEndpoint:
    """The project's local SmolLM2-135M endpoint, created on first call (idempotent).

    Slug ``local``, model ``openai/smollm2`` at ``settings.STUDIO_LOCAL_MODEL_URL``
    (the server of ``manage.py serve_model``), structured output through
    llama.cpp's ``json_object`` + schema grammar, prices explicitly $0 per 1M
    tokens (it runs here), context window 2048 tokens, pinned sampling
    parameters from ``settings.STUDIO_LOCAL_MODEL_PARAMS`` (none by default;
    the test settings pin temperature 0 and a seed). An existing endpoint
    is returned untouched, so admin edits survive. Writes an audit event on
    creation.
    """
    endpoint, created = ModelEndpoint.objects.get_or_create(
        project=project,
        slug=LOCAL_ENDPOINT_SLUG,
        defaults={
            "name": "Local SmolLM2-135M",
            "model": "openai/smollm2",
            "api_base": settings.STUDIO_LOCAL_MODEL_URL,
            "structured_output": StructuredOutput.JSON_OBJECT_SCHEMA,
            "input_price_per_mtok": Decimal("0"),
            "output_price_per_mtok": Decimal("0"),
            "cached_input_price_per_mtok": Decimal("0"),
            "cache_write_price_per_mtok": Decimal("0"),
            "context_window": 2048,
            "pinned_params": dict(settings.STUDIO_LOCAL_MODEL_PARAMS),
        },
    )
    if created:
        audit_record(
            project=project,
            actor=None,
            verb="endpoint.create",
            obj=endpoint,
            data={"slug": endpoint.slug, "model": endpoint.model},
        )
    return endpoint


def trace_start(*, project_id: int, run_id: int | None = None, name: str = "", session_id: str = "") -> Trace:
    """Open a trace for a run (or an ad-hoc call); its spans come from the gateway.

    Gets a fresh OpenTelemetry trace id; ``session_id`` groups it with the
    other traces of a chat-style session.
    """
    return Trace.objects.create(
        project_id=project_id,
        run_id=run_id,
        name=name[:200],
        session_id=session_id[:200],
        source=TraceSource.RUN if run_id is not None else TraceSource.CALL,
    )


def trace_finish(trace: Trace) -> Trace:
    """Stamp ``ended_at`` once (a second call keeps the first time)."""
    now = timezone.now()
    Trace.objects.filter(pk=trace.pk, ended_at__isnull=True).update(ended_at=now)
    trace.refresh_from_db(fields=["ended_at"])
    return trace


#: Spans deleted per statement by :func:`retention_enforce` (short transactions, no long lock).
RETENTION_BATCH = 5000


def retention_enforce(*, now: dt.datetime | None = None, batch: int = RETENTION_BATCH) -> dict[str, int]:
    """Delete the traces (and their spans) older than each project's ``trace_retention_days``.

    A trace is old when it started before ``now`` minus the retention. Spans
    go first, ``batch`` per statement (each its own transaction), then the
    emptied traces, also in batches. Projects without a retention keep
    everything. Runs and their steps are not touched (they are the run
    history, with their own token and cost totals). Returns
    ``{"spans": n, "traces": n}`` deleted, and writes one audit event per
    project that lost data.
    """
    now = now or timezone.now()
    totals = {"spans": 0, "traces": 0}
    for project in Project.objects.filter(trace_retention_days__isnull=False).order_by("pk"):
        cutoff = now - dt.timedelta(days=project.trace_retention_days or 0)
        old = Trace.objects.filter(project=project, started_at__lt=cutoff)
        spans = traces = 0
        while True:
            ids = list(Span.objects.filter(trace__in=old.values("pk")).values_list("pk", flat=True)[:batch])
            if not ids:
                break
            spans += Span.objects.filter(pk__in=ids).delete()[0]
        while True:
            ids = list(old.values_list("pk", flat=True)[:batch])
            if not ids:
                break
            traces += Trace.objects.filter(pk__in=ids).delete()[0]
        if spans or traces:
            audit_record(
                project=project,
                actor=None,
                verb="traces.retention",
                obj=project,
                data={
                    "days": project.trace_retention_days,
                    "before": cutoff.isoformat(),
                    "spans": spans,
                    "traces": traces,
                },
            )
        totals["spans"] += spans
        totals["traces"] += traces
    return totals
