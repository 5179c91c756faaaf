"""App configs of the platform core, and the admin console's site."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


def _reinstall_audit_triggers(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """SQLite drops a table's triggers when a migration rebuilds it: put them back after every migrate."""
    from django.db import connections

    from studio.db_triggers import install_audit_triggers

    install_audit_triggers(connections[using])


class StudioConfig(AppConfig):
    default = True
    name = "studio"
    verbose_name = "Studio platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from studio import signals  # noqa: F401 - connects the membership-change broadcast

        post_migrate.connect(_reinstall_audit_triggers, sender=self, dispatch_uid="studio.audit_triggers")


class StudioAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the studio's site: superusers only, every change audited."""

    default = False

    default_site = "studio.admin_site.StudioAdminSite"
