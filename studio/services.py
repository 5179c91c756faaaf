"""Platform writes: audit events, projects and memberships."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from studio.models import AuditEvent, Membership, Project, Role


def audit_record(
    *, project: Project | None, actor: Any, verb: str, obj: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event (who did ``verb`` to which object, with details).

    Never store secret values in ``data``.
    """
    return AuditEvent.objects.create(
        project=project,
        actor=actor if getattr(actor, "pk", None) else None,
        verb=verb,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data or {},
    )


@transaction.atomic
def project_ensure(*, slug: str, name: str, description: str = "") -> Project:
    """Get or create a project by slug (idempotent)."""
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    return project


@transaction.atomic
def membership_set(*, project: Project, user: Any, role: str, actor: Any = None) -> Membership:
    """Give ``user`` ``role`` in ``project`` (creating or changing the membership)."""
    Role(role)  # raises ValueError for an unknown role
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    audit_record(project=project, actor=actor, verb="membership.set", obj=membership,
                 data={"user": user.get_username(), "role": role})
    return membership
