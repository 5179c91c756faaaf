"""The admin console's site: for site operators (superusers) only, every change audited.

Decision (DESIGN.md: "project administration happens in the app; the Django
admin is for site operators"): the admin console does not scope querysets
per project, so only superusers may use it. A staff user who is not a
superuser is refused by the login form and redirected to the login page by
every admin view (``has_permission``). Project admins manage members, keys,
secrets and endpoints in the app under ``/p/<project>/settings/``.

Every model registered on this site (by any app) gets
:class:`AuditedAdminMixin`: each add, change and delete the admin makes —
including bulk deletes and inline changes — writes an audit event through
``studio.services.audit_record`` (verb ``<model>.create|update|delete``,
``data["via"] = "admin"`` and Django's change message, which names the
changed fields, never their values) — and so does saving django-guardian's
object permissions of a user or group (verb ``<model>.permissions``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.http import HttpRequest

# Attributes tried, in order, to find the project an admin-edited object belongs to.
_PROJECT_PATHS = ("workflow", "run", "prompt", "trace", "parent_run")


def project_of(obj: models.Model) -> Any:
    """The ``studio.Project`` an object belongs to (itself for a project), or None."""
    from studio.models import Project

    if isinstance(obj, Project):
        return obj
    if getattr(obj, "project_id", None) is not None:
        return Project.objects.filter(pk=obj.project_id).first()  # type: ignore[attr-defined]
    for name in _PROJECT_PATHS:
        parent = getattr(obj, name, None) if hasattr(obj, f"{name}_id") else None
        if isinstance(parent, models.Model):
            return project_of(parent)
    return None


def admin_audit(request: HttpRequest, obj: models.Model, action: str, changes: Any = None, **extra: Any) -> None:
    """Record an admin console change of ``obj`` (``action``: create, update, delete, or an action's name)."""
    from studio.services import audit_record

    data: dict[str, Any] = {"via": "admin", "object": str(obj)[:200], **extra}
    if changes:
        data["changes"] = changes
    audit_record(
        project=project_of(obj), actor=request.user, verb=f"{obj._meta.model_name}.{action}"[:64], obj=obj, data=data
    )


class AuditedAdminMixin:
    """Writes an audit event for every change Django's admin logs (added to every registered ModelAdmin)."""

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        admin_audit(request, obj, "create", message)
        return entry

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        admin_audit(request, obj, "update", message)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            admin_audit(request, obj, "delete")
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    # django-guardian's object-permission pages (GuardedModelAdmin) save grants without logging them.
    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: Any, user_id: Any) -> Any:
        response = super().obj_perms_manage_user_view(request, object_pk, user_id)  # type: ignore[misc]
        self._audit_grant(request, response, object_pk, user=get_user_model().objects.filter(pk=user_id).first())
        return response

    def obj_perms_manage_group_view(self, request: HttpRequest, object_pk: Any, group_id: Any) -> Any:
        response = super().obj_perms_manage_group_view(request, object_pk, group_id)  # type: ignore[misc]
        self._audit_grant(request, response, object_pk, group=Group.objects.filter(pk=group_id).first())
        return response

    def _audit_grant(self, request: HttpRequest, response: Any, object_pk: Any, **holder: Any) -> None:
        if request.method != "POST" or response.status_code != 302:
            return  # nothing saved (a form error re-renders the page)
        obj = self.get_queryset(request).filter(pk=object_pk).first()  # type: ignore[attr-defined]
        ((kind, who),) = holder.items()
        if obj is not None and who is not None:
            name = who.get_username() if kind == "user" else who.name
            admin_audit(
                request, obj, "permissions", **{kind: name, "permissions": sorted(request.POST.getlist("permissions"))}
            )


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    """The admin login: active superusers only (staff alone is not enough)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the correct %(username)s and password for a site administrator account. "
            "Project administration is in the app, under the project's settings."
        ),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class StudioAdminSite(admin.AdminSite):
    """``admin.site`` (via ``studio.apps.StudioAdminConfig``)."""

    site_header = "Studio administration"
    site_title = "Studio admin"
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Only active superusers may use any admin view."""
        user = request.user
        return bool(user.is_active and user.is_superuser)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Register as usual, with :class:`AuditedAdminMixin` mixed into the ModelAdmin."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(
                admin_class.__name__, (AuditedAdminMixin, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)
