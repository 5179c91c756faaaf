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
changed fields, never their values).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
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


def admin_audit(request: HttpRequest, obj: models.Model, action: str, changes: Any = None) -> None:
    """Record an admin console change of ``obj`` (``action``: create, update, delete, or an action's name)."""
    from studio.services import audit_record

    data: dict[str, Any] = {"via": "admin", "object": str(obj)[:200]}
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
