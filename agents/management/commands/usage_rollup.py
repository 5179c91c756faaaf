"""``manage.py usage_rollup``: rebuild the hourly usage rollups from every span and run (backfill)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = "Rebuild the hourly usage rollups (agents.observability.rollups) from all spans and runs."

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.models import UsageRollupState
        from agents.observability import rollups

        if not rollups.available():
            raise CommandError("Usage rollups need PostgreSQL; on SQLite the usage page reads live rows.")
        started = time.perf_counter()
        with transaction.atomic():
            UsageRollupState.objects.all().delete()
            rollups.rollup_pass()  # with no state, a pass rebuilds everything and records the watermarks
        self.stdout.write(f"Usage rollups rebuilt in {time.perf_counter() - started:.1f} s.")
