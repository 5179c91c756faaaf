"""Reads for the trace explorer and a run's trace, scoped by permission.

Runs come from :func:`agents.selectors.runs_visible` (a user sees the runs of
the workflows they may view); spans are read only through the functions in
this module (``_project_spans``), scoped by project and run, so a change of
the span model (parents, kinds, token parts) is a change here only.

Units: tokens are counts, costs USD (``None`` = unknown price, never 0),
durations and latencies milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.http import Http404

from agents.models import Run, SavedFilter, Step
from agents.observability.filters import PAGE_SIZE, Cursor, ExplorerFilters, day_start
from agents.selectors import runs_visible
from studio.models import Project
from traces.models import Span

# ------------------------------------------------------------------ spans (the only place that reads them)


def _project_spans(project_id: int) -> QuerySet[Span]:
    return Span.objects.filter(project_id=project_id)


def run_has_field(name: str) -> bool:
    """Whether runs carry ``name`` yet (``session_id`` arrives with the trace model change)."""
    return any(f.name == name for f in Run._meta.get_fields())


def span_token_parts(span: Span) -> list[tuple[str, int]]:
    """``[(label, tokens)]`` of a span's disjoint token parts that are not 0, then the provider's total.

    The parts never overlap (:class:`traces.tokens.TokenUsage`): fresh input,
    cache read, cache write, output, reasoning; their sum is every token once.
    """
    names = [
        ("fresh input", "input_tokens"),
        ("cache read", "cache_read_tokens"),
        ("cache write", "cache_write_tokens"),
        ("output", "output_tokens"),
        ("reasoning", "reasoning_tokens"),
    ]
    parts = [(label, int(getattr(span, attr))) for label, attr in names if getattr(span, attr)]
    if span.provider_total_tokens is not None:
        parts.append(("provider total", span.provider_total_tokens))
    return parts


def span_tokens_estimated(span: Span) -> bool:
    """True when the span's token counts are estimates (the local server's stream gives none)."""
    return span.usage_estimated


# ------------------------------------------------------------------ explorer


_LATENCY = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def explorer_runs(*, user: Any, project: Project, filters: ExplorerFilters) -> QuerySet[Run]:
    """Runs of ``project`` the user may see that match ``filters``, newest first ((created_at, id) descending).

    Endpoint matches an endpoint slug or a model string of any of the run's
    spans; node type any of its steps; ``q`` is a case-insensitive substring of
    the run's inputs or outputs (as JSON text); latency is the run's wall time.
    """
    runs = runs_visible(user=user, project=project).select_related("created_by", "api_key")
    f = filters
    if f.workflow:
        runs = runs.filter(workflow__slug=f.workflow)
    if f.version is not None:
        runs = runs.filter(version__isnull=True) if f.version == 0 else runs.filter(version__version=f.version)
    if f.status:
        runs = runs.filter(status=f.status)
    if f.error_code:
        runs = runs.filter(error_code=f.error_code)
    if f.cost_min is not None:
        runs = runs.filter(cost_usd__gte=f.cost_min)
    if f.cost_max is not None:
        runs = runs.filter(cost_usd__lte=f.cost_max)
    if f.tokens_min is not None or f.tokens_max is not None:
        runs = runs.alias(tokens=F("input_tokens") + F("output_tokens"))
        if f.tokens_min is not None:
            runs = runs.filter(tokens__gte=f.tokens_min)
        if f.tokens_max is not None:
            runs = runs.filter(tokens__lte=f.tokens_max)
    if f.latency_min is not None or f.latency_max is not None:
        runs = runs.alias(latency=_LATENCY)
        if f.latency_min is not None:
            runs = runs.filter(latency__gte=dt.timedelta(milliseconds=f.latency_min))
        if f.latency_max is not None:
            runs = runs.filter(latency__lte=dt.timedelta(milliseconds=f.latency_max))
    if f.date_from is not None:
        runs = runs.filter(created_at__gte=day_start(f.date_from))
    if f.date_to is not None:
        runs = runs.filter(created_at__lt=day_start(f.date_to + dt.timedelta(days=1)))
    if f.user:
        runs = runs.filter(created_by__username=f.user)
    if f.key:
        runs = runs.filter(Q(api_key__prefix=f.key) | Q(api_key__name=f.key))
    if f.session and run_has_field("session_id"):
        runs = runs.filter(session_id=f.session)
    if f.node_type:
        runs = runs.filter(Exists(Step.objects.filter(run=OuterRef("pk"), node_type=f.node_type)))
    if f.endpoint:
        spans = _project_spans(project.pk).filter(run_id=OuterRef("pk"))
        runs = runs.filter(Exists(spans.filter(Q(endpoint__slug=f.endpoint) | Q(model=f.endpoint))))
    if f.q:
        runs = runs.filter(Q(inputs__icontains=f.q) | Q(outputs__icontains=f.q))
    return runs.order_by("-created_at", "-id")


@dataclass
class ExplorerPage:
    """One page of runs and the cursor of the next (``""`` on the last page)."""

    runs: list[Run]
    next_cursor: str


def explorer_page(
    *, user: Any, project: Project, filters: ExplorerFilters, cursor: Cursor | None = None, size: int = PAGE_SIZE
) -> ExplorerPage:
    """A page of :func:`explorer_runs` after ``cursor`` (keyset: no OFFSET, so page N costs what page 1 does)."""
    runs = explorer_runs(user=user, project=project, filters=filters)
    if cursor is not None:
        runs = runs.filter(Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, pk__lt=cursor.pk))
    rows = list(runs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = Cursor(created_at=rows[-1].created_at, pk=rows[-1].pk).encode() if more else ""
    return ExplorerPage(runs=rows, next_cursor=next_cursor)


def explorer_external_page(
    *, project: Project, filters: ExplorerFilters, cursor: Cursor | None = None, size: int = PAGE_SIZE
) -> ExplorerPage:
    """A page of the project's external traces (OTLP ingest), newest first by (started_at, id), keyset.

    Filters that apply: dates, session, status (``ok``/``error`` map from succeeded/failed), endpoint or
    model (a span of the trace), ``q`` (the trace's or a span's name, case-insensitive). ``runs`` of the
    returned page holds :class:`traces.models.Trace` rows annotated with ``n_spans``, ``tokens`` and
    ``cost`` (USD of known prices; ``unknown`` counts spans with no known price).
    """
    from django.db.models import Count, Sum

    from traces.models import TraceSource
    from traces.selectors import traces_for_project

    f = filters
    traces = traces_for_project(project.pk, session_id=f.session or None, source=TraceSource.EXTERNAL)
    if f.date_from is not None:
        traces = traces.filter(started_at__gte=day_start(f.date_from))
    if f.date_to is not None:
        traces = traces.filter(started_at__lt=day_start(f.date_to + dt.timedelta(days=1)))
    if f.status:
        traces = traces.filter(status={"succeeded": "ok", "failed": "error"}.get(f.status, f.status))
    if f.endpoint:
        spans = _project_spans(project.pk).filter(trace_id=OuterRef("pk"))
        traces = traces.filter(Exists(spans.filter(Q(endpoint__slug=f.endpoint) | Q(model=f.endpoint))))
    if f.q:
        spans = _project_spans(project.pk).filter(trace_id=OuterRef("pk"), name__icontains=f.q)
        traces = traces.filter(Q(name__icontains=f.q) | Exists(spans))
    if cursor is not None:
        traces = traces.filter(Q(started_at__lt=cursor.created_at) | Q(started_at=cursor.created_at, pk__lt=cursor.pk))
    rows = list(traces.order_by("-started_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    sums = {
        row["trace_id"]: row
        for row in _project_spans(project.pk)
        .filter(trace_id__in=[t.pk for t in rows])
        .values("trace_id")
        .annotate(
            n=Count("id"),
            tok=Sum(
                F("input_tokens")
                + F("cache_read_tokens")
                + F("cache_write_tokens")
                + F("output_tokens")
                + F("reasoning_tokens")
            ),
            cost=Sum("cost_usd"),
            unknown=Count("id", filter=Q(cost_usd__isnull=True, status="ok")),
        )
    }
    for trace in rows:
        found = sums.get(trace.pk, {})
        trace.n_spans, trace.tokens = found.get("n", 0), found.get("tok") or 0
        trace.cost, trace.unknown = found.get("cost"), found.get("unknown", 0)
    next_cursor = Cursor(created_at=rows[-1].started_at, pk=rows[-1].pk).encode() if more else ""
    return ExplorerPage(runs=rows, next_cursor=next_cursor)


def access_external_trace(*, project: Project, trace_id: int) -> Any:
    """An external trace of ``project`` (the caller checked the user may view the project). Raises ``Http404``."""
    from traces.models import Trace, TraceSource

    trace = Trace.objects.filter(project=project, pk=trace_id, source=TraceSource.EXTERNAL).first()
    if trace is None:
        raise Http404("Trace not found.")
    return trace


def external_trace_tree(*, trace: Any) -> TraceNode:
    """The stored spans of an external trace as a tree under one root (the trace), placed on its timeline."""
    from traces.selectors import span_tree

    roots = span_tree(trace)
    every = [n for root in roots for n in root.walk()]
    starts = [n.started_at for n in every if n.started_at] or [trace.started_at]
    ends = [n.ended_at for n in every if n.ended_at] or [trace.ended_at or trace.started_at]
    t0, total_ms = min(starts), max((max(ends) - min(starts)).total_seconds() * 1000, 1.0)

    def convert(node: Any) -> TraceNode:
        span = node.span
        mine = TraceNode(
            kind="span",
            obj=span,
            label=node.name or node.kind,
            status=node.status,
            started_at=node.started_at,
            duration_ms=node.duration_ms,
            tokens=span.total_tokens if span else 0,
            cost_usd=span.cost_usd if span else None,
        )
        if node.started_at is not None:
            mine.offset_pct = max(0.0, min(100.0, (node.started_at - t0).total_seconds() * 1000 / total_ms * 100))
            mine.width_pct = max(0.5, min(100.0 - mine.offset_pct, (node.duration_ms or 0) / total_ms * 100))
        mine.children = [convert(child) for child in node.children]
        return mine

    root = TraceNode(
        kind="trace",
        obj=trace,
        label=trace.name or trace.service_name or f"trace {trace.pk}",
        status=trace.status or "ok",
        started_at=t0,
        duration_ms=total_ms,
        offset_pct=0.0,
        width_pct=100.0,
    )
    root.children = [convert(node) for node in roots]
    root.tokens = sum(child.tokens for child in root.walk_children())
    return root


def access_external_span(*, trace: Any, span_id: int) -> Span:
    """A span of an already-accessed external trace. Raises ``Http404``."""
    span = _project_spans(trace.project_id).filter(trace=trace, pk=span_id).select_related("endpoint").first()
    if span is None:
        raise Http404("Span not found.")
    return span


def explorer_choices(*, user: Any, project: Project) -> dict[str, list[str]]:
    """Values the filter inputs suggest: workflow slugs, node types, endpoint slugs and models, error codes."""
    runs = runs_visible(user=user, project=project)
    spans = _project_spans(project.pk)
    return {
        "workflows": sorted(set(runs.values_list("workflow__slug", flat=True).distinct()[:200])),
        "node_types": sorted(
            set(Step.objects.filter(run__project=project).values_list("node_type", flat=True).distinct()[:100])
        ),
        "endpoints": sorted(
            {v for v in spans.values_list("endpoint__slug", flat=True).distinct()[:100] if v}
            | {v for v in spans.values_list("model", flat=True).distinct()[:100] if v}
        ),
        "error_codes": sorted(
            {v for v in runs.exclude(error_code="").values_list("error_code", flat=True).distinct()[:100]}
        ),
    }


def saved_filters(*, user: Any, project: Project) -> QuerySet[SavedFilter]:
    """The user's own saved explorer filters in ``project``, by name."""
    return SavedFilter.objects.filter(project=project, user=user).order_by("name")


def access_saved_filter(*, user: Any, project: Project, pk: int) -> SavedFilter:
    """One of the user's own saved filters. Raises ``Http404`` for anyone else's (existence not revealed)."""
    found = SavedFilter.objects.filter(project=project, user=user, pk=pk).first()
    if found is None:
        raise Http404("Saved filter not found.")
    return found


# ------------------------------------------------------------------ a run's trace


@dataclass
class TraceNode:
    """A node of the trace tree: the run, a step or a span, with its place on the run's timeline.

    ``offset_pct``/``width_pct`` place its bar on the run's timeline (0-100);
    ``parallel`` marks a step that overlapped a sibling in time.
    """

    kind: str  # "run" | "step" | "span" | "trace" (an external trace's root)
    obj: Any
    label: str
    status: str
    started_at: dt.datetime | None
    duration_ms: float | None
    tokens: int = 0
    cost_usd: Decimal | None = None
    offset_pct: float = 0.0
    width_pct: float = 0.0
    parallel: bool = False
    children: list[TraceNode] = field(default_factory=list)

    def walk_children(self) -> list[TraceNode]:
        """Every descendant, depth first."""
        found: list[TraceNode] = []
        for child in self.children:
            found.append(child)
            found.extend(child.walk_children())
        return found


def _overlaps(a: Step, b: Step) -> bool:
    if not (a.started_at and b.started_at and a.finished_at and b.finished_at):
        return False
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def trace_tree(*, run: Run) -> TraceNode:
    """The run → steps → spans tree of an already-accessed run.

    Steps are the run's children in start order (steps that ran at the same
    time are siblings marked ``parallel``); each step's model calls are its
    children; a span with no step hangs off the run.
    """
    steps = list(run.steps.order_by("started_at", "id"))
    spans = list(
        _project_spans(run.project_id).filter(run_id=run.pk).select_related("endpoint").order_by("started_at", "id")
    )
    t0 = run.started_at or run.created_at
    ends = [x for x in [run.finished_at, *(s.finished_at for s in steps), *(s.ended_at for s in spans)] if x]
    total_ms = max(((max(ends) - t0).total_seconds() * 1000) if ends else 0.0, 1.0)

    def place(node: TraceNode, start: dt.datetime | None, ms: float | None) -> TraceNode:
        if start is not None:
            node.offset_pct = max(0.0, min(100.0, (start - t0).total_seconds() * 1000 / total_ms * 100))
            node.width_pct = max(0.5, min(100.0 - node.offset_pct, (ms or 0) / total_ms * 100))
        return node

    root = TraceNode(
        kind="run",
        obj=run,
        label=run.workflow.name,
        status=run.status,
        started_at=t0,
        duration_ms=run.duration_ms,
        tokens=run.input_tokens + run.output_tokens,
        cost_usd=None if run.cost_unknown else run.cost_usd,
        offset_pct=0.0,
        width_pct=100.0,
    )
    by_step: dict[int, list[Span]] = defaultdict(list)
    for span in spans:
        by_step[span.step_id or 0].append(span)
    for step in steps:
        node = place(
            TraceNode(
                kind="step",
                obj=step,
                label=step.label or step.node_id,
                status=step.status,
                started_at=step.started_at,
                duration_ms=step.duration_ms,
                tokens=step.input_tokens + step.output_tokens,
                cost_usd=step.cost_usd,
                parallel=any(_overlaps(step, other) for other in steps if other.pk != step.pk),
            ),
            step.started_at,
            step.duration_ms,
        )
        node.children = [_span_node(span, place) for span in by_step.get(step.pk, [])]
        root.children.append(node)
    root.children.extend(_span_node(span, place) for span in by_step.get(0, []))
    return root


def _span_node(span: Span, place: Any) -> TraceNode:
    return place(
        TraceNode(
            kind="span",
            obj=span,
            label=span.name or span.model or span.kind,
            status=span.status,
            started_at=span.started_at,
            duration_ms=span.latency_ms,
            tokens=span.total_tokens,
            cost_usd=span.cost_usd,
        ),
        span.started_at,
        span.latency_ms,
    )


def access_trace_run(*, user: Any, project: Project, run_id: int) -> Run:
    """A run of ``project`` for its trace page. Raises ``Http404`` (also for a run of another project)."""
    from agents.selectors import access_run

    run = access_run(user=user, pk=run_id)
    if run.project_id != project.pk:
        raise Http404("Run not found.")
    return run


def access_span(*, run: Run, span_id: int) -> Span:
    """A span of an already-accessed run. Raises ``Http404``."""
    span = _project_spans(run.project_id).filter(run_id=run.pk, pk=span_id).select_related("endpoint").first()
    if span is None:
        raise Http404("Span not found.")
    return span


def access_step(*, run: Run, step_id: int) -> Step:
    """A step of an already-accessed run. Raises ``Http404``."""
    step = run.steps.filter(pk=step_id).first()
    if step is None:
        raise Http404("Step not found.")
    return step


def spans_of_step(*, step: Step) -> list[Span]:
    """Model calls of a step, in call order."""
    return list(
        _project_spans(step.run.project_id)
        .filter(run_id=step.run_id, step_id=step.pk)
        .select_related("endpoint")
        .order_by("started_at", "id")
    )
