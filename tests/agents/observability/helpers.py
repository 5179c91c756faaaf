"""Runs, steps and spans written straight to the database for the observability tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from agents.models import Run, RunStatus, Step, StepStatus, Workflow
from traces.models import ModelEndpoint, Span, SpanStatus, Trace


def make_run(
    workflow: Workflow,
    user: Any,
    *,
    status: str = RunStatus.SUCCEEDED,
    at: dt.datetime | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    tokens: tuple[int, int] = (100, 20),
    cost: str = "0.001",
    duration_ms: int = 1500,
    error_code: str = "",
) -> Run:
    at = at or timezone.now()
    run = Run.objects.create(
        project=workflow.project,
        workflow=workflow,
        version=workflow.versions.order_by("-version").first(),
        graph=workflow.draft_graph,
        status=status,
        inputs=inputs or {"topic": "tides"},
        outputs=outputs or {},
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost),
        created_by=user,
        error_code=error_code,
        started_at=at,
        finished_at=at + dt.timedelta(milliseconds=duration_ms),
    )
    Run.objects.filter(pk=run.pk).update(created_at=at)
    run.refresh_from_db()
    return run


def add_step(run: Run, node_id: str, node_type: str, start_ms: int, end_ms: int, **extra: Any) -> Step:
    t0 = run.started_at
    return Step.objects.create(
        run=run,
        node_id=node_id,
        node_type=node_type,
        label=extra.pop("label", node_id),
        status=StepStatus.SUCCEEDED,
        started_at=t0 + dt.timedelta(milliseconds=start_ms),
        finished_at=t0 + dt.timedelta(milliseconds=end_ms),
        duration_ms=end_ms - start_ms,
        **extra,
    )


def add_span(
    run: Run,
    step: Step | None,
    endpoint: ModelEndpoint | None,
    *,
    model: str = "openai/smollm2",
    cost: Decimal | None = Decimal("0"),
    start_ms: int = 0,
    latency_ms: float = 100.0,
    messages: list[dict[str, str]] | None = None,
    text: str = "",
    tokens: tuple[int, int] = (50, 10),
    prompt_version_id: int | None = None,
) -> Span:
    trace = Trace.objects.filter(run_id=run.pk).first() or Trace.objects.create(project=run.project, run_id=run.pk)
    started = run.started_at + dt.timedelta(milliseconds=start_ms)
    return Span.objects.create(
        trace=trace,
        project=run.project,
        kind="llm",
        name=step.node_id if step else "call",
        endpoint=endpoint,
        model=model,
        run_id=run.pk,
        step_id=step.pk if step else None,
        node_id=step.node_id if step else "",
        input={"model": model, "messages": messages or [{"role": "user", "content": "Say hi"}]},
        output={"text": text, "parsed": {"answer": text} if text else None, "usage_estimated": False},
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=cost,
        price_source="endpoint" if cost is not None else "unknown",
        latency_ms=latency_ms,
        status=SpanStatus.OK,
        started_at=started,
        ended_at=started + dt.timedelta(milliseconds=latency_ms),
        prompt_version_id=prompt_version_id,
    )
