"""``manage.py trace_retention``: delete traces past each project's retention now (quickstart has no beat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from traces.services import retention_enforce


class Command(BaseCommand):
    help = "Delete traces and spans older than each project's trace retention (days)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = retention_enforce()
        self.stdout.write(f"deleted {deleted['spans']} spans and {deleted['traces']} traces")
