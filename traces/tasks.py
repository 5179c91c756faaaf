"""Celery tasks of the traces app (found by ``app.autodiscover_tasks()``)."""

from __future__ import annotations

from celery import shared_task

from traces.services import retention_enforce


@shared_task(name="traces.tasks.enforce_retention", ignore_result=True)
def enforce_retention() -> dict[str, int]:
    """Beat: delete traces and spans past each project's retention (see :func:`traces.services.retention_enforce`)."""
    return retention_enforce()
