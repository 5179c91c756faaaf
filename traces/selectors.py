"""Reads of endpoints, spans and usage, filtered by permission or scoped by owner."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from studio.models import Project
from studio.selectors import check_object_access, visible_in_projects
from traces.models import MODEL_CALL_KINDS, ModelEndpoint, Span, SpanStatus, Trace


def access_endpoint(
    *, user: Any, project: Project, slug: str | None = None, pk: int | None = None, perm: str = "view"
) -> ModelEndpoint:
    """Fetch a model endpoint of ``project`` by slug or pk for ``user``.

    Access = the user's project role or a guardian object permission on the
    endpoint. Raises ``Http404`` when it does not exist or the user may not
    view it, ``PermissionDenied`` when the user may view but not ``perm`` it,
    ``ValueError`` when neither slug nor pk is given.
    """
    if slug is None and pk is None:
        raise ValueError("access_endpoint needs a slug or a pk.")
    lookup: dict[str, Any] = {"slug": slug} if slug is not None else {"pk": pk}
    endpoint = ModelEndpoint.objects.filter(project=project, **lookup).first()
    if endpoint is None:
        raise Http404("Model endpoint not found.")
    return check_object_access(user, endpoint, project, perm)


def endpoints_visible(
    *, user: Any, project: Project | None = None, active_only: bool = True
) -> QuerySet[ModelEndpoint]:
    """Endpoints the user may view (by role or object permission), optionally of one project."""
    qs = ModelEndpoint.objects.all()
    if project is not None:
        qs = qs.filter(project=project)
    if active_only:
        qs = qs.filter(is_active=True)
    return visible_in_projects(user, qs).order_by("name")


def spans_for_run(run_id: int, *, project_id: int | None = None) -> QuerySet[Span]:
    """Spans of a run in call order. The caller has checked access to the run;
    pass ``project_id`` to scope the query to its project as well."""
    qs = Span.objects.filter(run_id=run_id)
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    return qs.order_by("started_at", "id")


def spans_for_project(
    project_id: int,
    *,
    since: Any = None,
    until: Any = None,
    kinds: list[str] | tuple[str, ...] | None = None,
    endpoint_id: int | None = None,
    status: str | None = None,
    session_id: str | None = None,
) -> QuerySet[Span]:
    """Spans of one project, newest first, optionally filtered (each filter uses an index).

    The caller has checked the user may view the project (e.g.
    :func:`studio.selectors.access_project`). ``since``/``until``: datetimes
    (``started_at`` ≥ since, < until); ``kinds``: :class:`~traces.models.SpanKind`
    values; ``status``: ``ok``/``error``; ``session_id``: the trace's session.
    """
    qs = Span.objects.filter(project_id=project_id)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    if endpoint_id is not None:
        qs = qs.filter(endpoint_id=endpoint_id)
    if status:
        qs = qs.filter(status=status)
    if session_id:
        qs = qs.filter(trace__session_id=session_id)
    return qs.order_by("-started_at", "-id")


def traces_for_project(project_id: int, *, session_id: str | None = None, source: str | None = None) -> QuerySet[Trace]:
    """Traces of one project, newest first (runs, single calls and external traces).

    The caller has checked the user may view the project. ``source``:
    :class:`~traces.models.TraceSource` value; ``session_id``: one session.
    """
    qs = Trace.objects.filter(project_id=project_id)
    if session_id:
        qs = qs.filter(session_id=session_id)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("-started_at", "-id")


@dataclass
class TraceNode:
    """One node of a trace tree: a stored span, or a span derived from a row (run, step, HTTP request).

    ``span_id``/``parent_span_id``: OTel hex ids. ``kind``: a
    :class:`~traces.models.SpanKind` value. ``span``: the stored
    :class:`~traces.models.Span` (None for a derived node); ``ref``: the row
    a derived node stands for (a Run, Step, SideEffect), else None.
    ``started_at``/``ended_at``: datetimes (ended None while open);
    ``duration_ms``: ms or None. ``status``: ``ok``, ``error`` or the row's
    own status. ``children`` in start order.
    """

    span_id: str
    parent_span_id: str
    kind: str
    name: str
    started_at: Any
    ended_at: Any = None
    status: str = ""
    span: Span | None = None
    ref: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    children: list[TraceNode] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000

    def walk(self) -> list[TraceNode]:
        """This node and every descendant, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


def span_node(span: Span) -> TraceNode:
    """A :class:`TraceNode` for a stored span."""
    return TraceNode(
        span_id=span.otel_span_id,
        parent_span_id=span.otel_parent_span_id,
        kind=span.kind,
        name=span.name or span.model,
        started_at=span.started_at,
        ended_at=span.ended_at,
        status=span.status,
        span=span,
        attributes=span.attributes,
    )


def build_tree(nodes: list[TraceNode]) -> list[TraceNode]:
    """Link ``nodes`` by their parent span ids; return the roots in start order.

    A node whose parent is not among ``nodes`` (an external span whose
    parent was never sent) is a root. Children are sorted by start time.
    """
    by_id = {node.span_id: node for node in nodes}
    roots = []
    for node in nodes:
        parent = by_id.get(node.parent_span_id) if node.parent_span_id else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes:
        node.children.sort(key=_start_key)
    return sorted(roots, key=_start_key)


def _start_key(node: TraceNode) -> tuple[float, str]:
    return (node.started_at.timestamp() if node.started_at is not None else 0.0, node.span_id)


def span_tree(trace: Trace) -> list[TraceNode]:
    """The stored spans of ``trace`` as a tree (roots in start order). One query.

    For a run's trace use :func:`agents.trace_tree.trace_tree`, which adds the
    run, step and HTTP nodes derived from their rows.
    """
    return build_tree([span_node(span) for span in trace.spans.select_related("endpoint").order_by("started_at", "id")])


@dataclass(frozen=True)
class UsageTotals:
    """Sums over model-call spans. Tokens are counts of disjoint parts
    (:class:`traces.tokens.TokenUsage`): ``input_tokens`` fresh prompt tokens,
    ``cached_tokens`` cache reads, ``cache_write_tokens``, ``output_tokens``
    visible output, ``reasoning_tokens``; ``cost_usd`` sums the known costs
    only (USD); ``unknown_cost_spans`` counts spans whose price is unknown, so
    a total with unknowns is a lower bound; ``estimated_spans`` counts spans
    whose tokens were estimated."""

    spans: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    unknown_cost_spans: int
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated_spans: int = 0

    @property
    def cost_is_complete(self) -> bool:
        return self.unknown_cost_spans == 0

    @property
    def prompt_tokens(self) -> int:
        """All prompt tokens: fresh + cache read + cache write."""
        return self.input_tokens + self.cached_tokens + self.cache_write_tokens

    @property
    def completion_tokens(self) -> int:
        """All output tokens: visible + reasoning."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _totals(spans: QuerySet[Span]) -> UsageTotals:
    # Aggregate names differ from field names: Django resolves a filter's field to a same-named aggregate.
    spans = spans.filter(kind__in=MODEL_CALL_KINDS)
    row = spans.aggregate(
        n_spans=Count("id"),
        n_errors=Count("id", filter=Q(status=SpanStatus.ERROR)),
        sum_input=Sum("input_tokens"),
        sum_output=Sum("output_tokens"),
        sum_cached=Sum("cache_read_tokens"),
        sum_write=Sum("cache_write_tokens"),
        sum_reasoning=Sum("reasoning_tokens"),
        sum_cost=Sum("cost_usd"),
        n_unknown=Count("id", filter=Q(cost_usd__isnull=True, status=SpanStatus.OK)),
        n_estimated=Count("id", filter=Q(usage_estimated=True)),
    )
    return UsageTotals(
        spans=row["n_spans"],
        errors=row["n_errors"],
        input_tokens=row["sum_input"] or 0,
        output_tokens=row["sum_output"] or 0,
        cached_tokens=row["sum_cached"] or 0,
        cache_write_tokens=row["sum_write"] or 0,
        reasoning_tokens=row["sum_reasoning"] or 0,
        cost_usd=row["sum_cost"] or Decimal("0"),
        unknown_cost_spans=row["n_unknown"],
        estimated_spans=row["n_estimated"],
    )


def usage_for_run(run_id: int, *, project_id: int | None = None) -> UsageTotals:
    """Token and cost totals of a run's model-call spans (see :class:`UsageTotals`)."""
    return _totals(spans_for_run(run_id, project_id=project_id))


def usage_for_project(project_id: int, *, since: Any = None) -> UsageTotals:
    """Token and cost totals of a project's model-call spans, optionally since a datetime."""
    spans = Span.objects.filter(project_id=project_id)
    if since is not None:
        spans = spans.filter(started_at__gte=since)
    return _totals(spans)
