"""Reads of endpoints, spans and usage, filtered by permission or scoped by owner."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from studio.models import Project
from studio.selectors import check_object_access, visible_in_projects
from traces.models import ModelEndpoint, Span, SpanStatus


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


@dataclass(frozen=True)
class UsageTotals:
    """Sums over spans. Tokens are counts; ``cost_usd`` sums the known costs
    only (USD); ``unknown_cost_spans`` counts spans whose price is unknown, so
    a total with unknowns is a lower bound."""

    spans: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    unknown_cost_spans: int

    @property
    def cost_is_complete(self) -> bool:
        return self.unknown_cost_spans == 0


def _totals(spans: QuerySet[Span]) -> UsageTotals:
    # Aggregate names differ from field names: Django resolves a filter's field to a same-named aggregate.
    row = spans.aggregate(
        n_spans=Count("id"),
        n_errors=Count("id", filter=Q(status=SpanStatus.ERROR)),
        sum_input=Sum("input_tokens"),
        sum_output=Sum("output_tokens"),
        sum_cached=Sum("cached_tokens"),
        sum_cost=Sum("cost_usd"),
        n_unknown=Count("id", filter=Q(cost_usd__isnull=True, status=SpanStatus.OK)),
    )
    return UsageTotals(
        spans=row["n_spans"],
        errors=row["n_errors"],
        input_tokens=row["sum_input"] or 0,
        output_tokens=row["sum_output"] or 0,
        cached_tokens=row["sum_cached"] or 0,
        cost_usd=row["sum_cost"] or Decimal("0"),
        unknown_cost_spans=row["n_unknown"],
    )


def usage_for_run(run_id: int, *, project_id: int | None = None) -> UsageTotals:
    """Token and cost totals of a run's spans (see :class:`UsageTotals`)."""
    return _totals(spans_for_run(run_id, project_id=project_id))


def usage_for_project(project_id: int, *, since: Any = None) -> UsageTotals:
    """Token and cost totals of a project's spans, optionally since a datetime."""
    spans = Span.objects.filter(project_id=project_id)
    if since is not None:
        spans = spans.filter(started_at__gte=since)
    return _totals(spans)
