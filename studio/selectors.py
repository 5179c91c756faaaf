"""Reads filtered by permission.

``access_<thing>(*, user, pk, perm)`` is the only way a view, API endpoint or
consumer fetches an object by id. A user who may not even view an object gets
``Http404`` (its existence is not revealed); one who may view but lacks
``perm`` gets ``PermissionDenied``.

Access = the user's project role (Membership) OR a django-guardian object
permission on the object itself. A request authenticated with an API key is
capped to that key's project and role.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from studio.models import ROLE_RANK, ApiKey, Membership, Project, Role, Secret, role_allows

M = TypeVar("M", bound=models.Model)
AnyUser = AbstractBaseUser | AnonymousUser

# Object-permission codenames per generic action (guardian).
GUARDIAN_ACTION = {"view": "view", "change": "change", "delete": "delete", "run": "run", "manage": "change",
                  "own": "own"}  # no object grant confers ownership


def api_key_of(user: Any) -> ApiKey | None:
    """The API key the request authenticated with, if any (set by ApiKeyAuthentication)."""
    return getattr(user, "_studio_api_key", None)


def user_role(user: Any, project: Project) -> str | None:
    """The user's effective role in ``project`` (None: no membership).

    Superusers act as owners. An API key caps the role at the key's role and
    limits it to the key's project.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    key = api_key_of(user)
    if key is not None and key.project_id != project.pk:
        return None
    if user.is_superuser:
        role: str | None = Role.OWNER
    else:
        cache = user.__dict__.setdefault("_studio_roles", {})
        if project.pk not in cache:
            cache[project.pk] = (
                Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
            )
        role = cache[project.pk]
    if role is not None and key is not None and ROLE_RANK[Role(key.role)] < ROLE_RANK[Role(role)]:
        role = key.role
    return role


#: What an archived project refuses to everyone (its settings stay editable, so it can be unarchived).
ARCHIVED_REFUSES = frozenset({"run", "change", "delete"})


def has_project_perm(user: Any, project: Project, perm: str) -> bool:
    """True when the user's role in ``project`` grants ``perm`` (view/run/change/delete/manage/own).

    An archived project is read-only: ``run``, ``change`` and ``delete`` are refused to every role.
    """
    if perm in ARCHIVED_REFUSES and project.archived_at is not None:
        return False
    return role_allows(user_role(user, project), perm)


def has_object_perm(user: Any, obj: models.Model, project: Project, perm: str) -> bool:
    """Project role, or a guardian object permission on ``obj`` itself — capped by the API key, if any.

    A request authenticated with an API key never gets more than the key's
    role in the key's project: a "viewer" key of a superuser, or of a user
    holding a guardian grant on ``obj``, can only read. Raises ``KeyError``
    for an unknown ``perm``.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    key = api_key_of(user)
    if key is not None and (key.project_id != project.pk or not role_allows(key.role, perm)):
        return False
    if perm in ARCHIVED_REFUSES and project.archived_at is not None:
        return False
    if has_project_perm(user, project, perm):
        return True
    codename = f"{obj._meta.app_label}.{GUARDIAN_ACTION[perm]}_{obj._meta.model_name}"
    return bool(user.has_perm(codename, obj))


def check_object_access(user: Any, obj: M, project: Project, perm: str) -> M:
    """Return ``obj`` if the user may ``perm`` it; else raise Http404/PermissionDenied."""
    if not has_object_perm(user, obj, project, "view"):
        raise Http404("Not found.")
    if perm != "view" and not has_object_perm(user, obj, project, perm):
        raise PermissionDenied(f"You need the '{perm}' permission for this {obj._meta.verbose_name}.")
    return obj


def projects_visible(user: Any) -> models.QuerySet[Project]:
    """Projects the user is a member of (all for a superuser; one for an API key)."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    key = api_key_of(user)
    qs = Project.objects.all()
    if key is not None:
        qs = qs.filter(pk=key.project_id)
    if user.is_superuser:
        return qs
    return qs.filter(memberships__user=user).distinct()


def access_project(*, user: Any, slug: str | None = None, pk: int | None = None, perm: str = "view") -> Project:
    """Fetch a project by slug or pk for ``user``. Raises Http404 / PermissionDenied."""
    lookup: dict[str, Any] = {"slug": slug} if slug is not None else {"pk": pk}
    project = Project.objects.filter(**lookup).first()
    if project is None or not has_project_perm(user, project, "view"):
        raise Http404("Project not found.")
    if not has_project_perm(user, project, perm):
        raise PermissionDenied(f"You need the '{perm}' permission in project {project.slug}.")
    return project


def visible_in_projects(
    user: Any, queryset: models.QuerySet[M], *, project_field: str = "project"
) -> models.QuerySet[M]:
    """Scope ``queryset`` to rows the user may view: by project membership or guardian object permission."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    projects = projects_visible(user)
    by_role = queryset.filter(**{f"{project_field}__in": projects})
    if user.is_superuser or api_key_of(user) is not None:
        return by_role
    model = queryset.model
    codename = f"{model._meta.app_label}.view_{model._meta.model_name}"
    by_object = get_objects_for_user(user, codename, klass=queryset, accept_global_perms=False)
    return (by_role | by_object).distinct()


# ------------------------------------------------------------------ secrets: who may reference one

USE_SECRET = "use_secret"  # noqa: S105 - the guardian codename on studio.Secret, not a password


def may_use_secret(user: Any, project: Project, secret: Secret | None) -> bool:
    """Whether ``user`` may reference ``secret`` of ``project`` (in a node's header, an endpoint, an MCP server).

    The project's owners and admins may use every secret of it — and name one
    that does not exist yet. Any other member needs an explicit grant: the
    guardian object permission ``studio.use_secret`` on that secret, given to
    the user or one of their groups (:func:`studio.services.secret_grant_use`).
    An API key caps the role as everywhere, and a superuser acting through a
    key below admin gets no implicit grant. ``secret`` None (no such secret)
    is allowed to owners and admins only. Never raises.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    role = user_role(user, project)
    if role is None:
        return False
    if role_allows(role, "manage"):
        return True
    if secret is None or secret.project_id != project.pk:
        return False
    from guardian.shortcuts import get_group_perms, get_user_perms

    return (
        get_user_perms(user, secret).filter(codename=USE_SECRET).exists()
        or get_group_perms(user, secret).filter(codename=USE_SECRET).exists()
    )


def secret_use_grantees(*, secret: Secret) -> models.QuerySet[Any]:
    """Users holding an explicit ``use_secret`` grant on ``secret`` (owners and admins need none), by username."""
    from django.contrib.auth import get_user_model
    from guardian.shortcuts import get_users_with_perms

    users = get_users_with_perms(
        secret, only_with_perms_in=[USE_SECRET], with_superusers=False, with_group_users=False
    )
    return get_user_model().objects.filter(pk__in=[user.pk for user in users]).order_by("username")
