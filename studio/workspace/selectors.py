"""Reads of project administration, scoped to one already-accessed project.

``access_membership`` / ``access_api_key`` / ``access_secret`` /
``access_invitation`` fetch one row by id *within* a project the caller
already fetched with ``access_project(perm=...)``: a row of another project
is a 404, never a leak.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from studio.models import ApiKey, AuditEvent, Invitation, Membership, Project, Secret, Variable

AUDIT_PAGE_SIZE = 50


def access_membership(*, project: Project, pk: Any) -> Membership:
    """A membership of ``project`` by id. Raises ``Http404``."""
    found = Membership.objects.select_related("user", "project").filter(project=project, pk=_int(pk)).first()
    if found is None:
        raise Http404("Member not found.")
    return found


def access_api_key(*, project: Project, pk: Any) -> ApiKey:
    """An API key of ``project`` by id. Raises ``Http404``."""
    found = ApiKey.objects.select_related("user", "project").filter(project=project, pk=_int(pk)).first()
    if found is None:
        raise Http404("API key not found.")
    return found


def access_secret(*, project: Project, pk: Any) -> Secret:
    """A secret of ``project`` by id (its ciphertext stays unread). Raises ``Http404``."""
    found = Secret.objects.select_related("project").filter(project=project, pk=_int(pk)).first()
    if found is None:
        raise Http404("Secret not found.")
    return found


def access_secret_named(*, project: Project, name: str) -> Secret:
    """A secret of ``project`` by its name (exact; its ciphertext stays unread). Raises ``Http404``."""
    found = Secret.objects.select_related("project", "created_by").filter(project=project, name=name[:100]).first()
    if found is None:
        raise Http404("Secret not found.")
    return found


def access_invitation(*, project: Project, pk: Any) -> Invitation:
    """An invitation of ``project`` by id. Raises ``Http404``."""
    found = Invitation.objects.select_related("project").filter(project=project, pk=_int(pk)).first()
    if found is None:
        raise Http404("Invitation not found.")
    return found


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None
    if not 0 < number < 2**63:
        raise Http404("Not found.")
    return number


def project_members(*, project: Project) -> QuerySet[Membership]:
    """Members by role (owners first), then username."""
    from django.db.models import Case, IntegerField, Value, When

    from studio.models import ROLE_RANK

    rank = Case(*[When(role=role, then=Value(-n)) for role, n in ROLE_RANK.items()], output_field=IntegerField())
    return Membership.objects.filter(project=project).select_related("user").order_by(rank, "user__username")


def project_invitations(*, project: Project) -> QuerySet[Invitation]:
    return Invitation.objects.filter(project=project).select_related("created_by", "used_by")


def project_api_keys(*, project: Project) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(project=project).select_related("user")


def project_secrets(*, project: Project) -> QuerySet[Secret]:
    return Secret.objects.filter(project=project).select_related("created_by").order_by("name")


@dataclass(frozen=True)
class AuditFilters:
    """Audit log filters: ``actor`` (username, exact), ``verb`` (prefix, e.g. ``membership``),
    ``object`` (``type`` or ``type:id``), ``since``/``until`` (dates, inclusive)."""

    actor: str = ""
    verb: str = ""
    object: str = ""
    since: datetime.date | None = None
    until: datetime.date | None = None


def audit_events(*, project: Project, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The project's audit events, newest first, filtered."""
    qs = AuditEvent.objects.filter(project=project).select_related("actor")
    if filters.actor:
        qs = qs.filter(actor_username__iexact=filters.actor)
    if filters.verb:
        qs = qs.filter(Q(verb=filters.verb) | Q(verb__startswith=filters.verb.rstrip(".") + "."))
    if filters.object:
        kind, _, ident = filters.object.partition(":")
        qs = qs.filter(Q(object_type__iexact=kind) | Q(object_type__iendswith="." + kind))
        if ident:
            qs = qs.filter(object_id=ident)
    if filters.since:
        qs = qs.filter(created_at__date__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__date__lte=filters.until)
    return qs.order_by("-created_at", "-id")


def audit_verbs(*, project: Project) -> list[str]:
    """Distinct verbs of the project's audit log, for the filter's choices."""
    return list(AuditEvent.objects.filter(project=project).values_list("verb", flat=True).distinct().order_by("verb"))


def project_variables(*, project: Project) -> QuerySet[Variable]:
    """The project's variables, by name."""
    return Variable.objects.filter(project=project).select_related("created_by").order_by("name")


def access_variable(*, project: Project, name: Any) -> Variable:
    """A variable of ``project`` by name (case-sensitive). Raises ``Http404``."""
    found = Variable.objects.select_related("project").filter(project=project, name=str(name or "")[:64]).first()
    if found is None:
        raise Http404("Variable not found.")
    return found


def variable_values(project_id: int) -> dict[str, Any]:
    """``{name: value}`` of a project's variables: what ``{{ vars.<name> }}`` reads in its runs."""
    return dict(Variable.objects.filter(project_id=project_id).values_list("name", "value"))
