"""Platform writes: audit events, projects and memberships."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from studio.models import AuditEvent, Membership, Project, Role, Secret
from studio.selectors import USE_SECRET, has_project_perm


def audit_record(
    *,
    project: Project | None,
    actor: Any,
    verb: str,
    obj: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event: ``actor`` did ``verb`` to ``obj`` in ``project``.

    The one way to write the audit log. ``verb`` is ``<noun>.<action>``
    (``workflow.publish``, ``secret.delete``); ``object_type`` is
    ``obj._meta.label_lower`` (``agents.workflow``) and ``object_id`` its pk,
    both blank without ``obj``. ``actor`` may be a user, an anonymous user or
    None (the system); a user's username is copied beside the foreign key,
    and a request made with an API key records the key's prefix in
    ``data["api_key"]``. Never put secret values in ``data``. Raises
    ``ValueError`` for a verb longer than 64 characters.
    """
    if len(verb) > 64:
        raise ValueError(f"Audit verb too long: {verb!r}")
    user = actor if getattr(actor, "pk", None) is not None and getattr(actor, "is_authenticated", False) else None
    payload = dict(data or {})
    key = getattr(user, "_studio_api_key", None)
    if key is not None:
        payload.setdefault("api_key", key.prefix)
    return AuditEvent.objects.create(
        project=project,
        actor=user,
        actor_username=user.get_username() if user is not None else "",
        verb=verb,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        data=payload,
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
    audit_record(
        project=project,
        actor=actor,
        verb="membership.set",
        obj=membership,
        data={"user": user.get_username(), "role": role},
    )
    return membership


# ------------------------------------------------------------------ secrets: grants of use


def _check_may_grant_use(*, secret: Secret, user: Any, actor: Any) -> None:
    if actor is not None and not has_project_perm(actor, secret.project, "manage"):
        raise PermissionDenied("Only the project's owners and admins grant the use of a secret.")
    if not Membership.objects.filter(project_id=secret.project_id, user=user).exists():
        raise ValueError(f"{user.get_username()} is not a member of project {secret.project.slug}.")


@transaction.atomic
def secret_grant_use(*, secret: Secret, user: Any, actor: Any) -> None:
    """Let ``user`` reference ``secret`` in workflows (http headers), endpoints and MCP servers; audited.

    Gives the guardian object permission ``studio.use_secret`` on ``secret``
    (owners and admins need none). Idempotent. ``actor`` None is the system
    (a management command). Raises ``PermissionDenied`` when ``actor`` may not
    manage the secret's project and ``ValueError`` when ``user`` is not a
    member of it. The audit event names the secret and the user, never the value.
    """
    from guardian.shortcuts import assign_perm

    _check_may_grant_use(secret=secret, user=user, actor=actor)
    assign_perm(f"studio.{USE_SECRET}", user, secret)
    audit_record(
        project=secret.project,
        actor=actor,
        verb="secret.grant_use",
        obj=secret,
        data={"name": secret.name, "user": user.get_username()},
    )


@transaction.atomic
def secret_revoke_use(*, secret: Secret, user: Any, actor: Any) -> None:
    """Withdraw ``user``'s grant to use ``secret`` (see :func:`secret_grant_use`); audited, idempotent.

    From then on the user's saves, publishes and runs that need the grant are
    refused, and a run of theirs that resolves the secret later fails at that
    node (unless the version's publisher may still use it). Raises
    ``PermissionDenied`` like :func:`secret_grant_use` (a former member's grant
    can be revoked too).
    """
    from guardian.shortcuts import remove_perm

    if actor is not None and not has_project_perm(actor, secret.project, "manage"):
        raise PermissionDenied("Only the project's owners and admins revoke the use of a secret.")
    remove_perm(f"studio.{USE_SECRET}", user, secret)
    audit_record(
        project=secret.project,
        actor=actor,
        verb="secret.revoke_use",
        obj=secret,
        data={"name": secret.name, "user": user.get_username()},
    )
