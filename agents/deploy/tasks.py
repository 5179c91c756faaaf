"""Celery tasks of deployments: the schedules' tick (beat runs it every ``STUDIO_SCHEDULE_TICK_SECONDS``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from agents.deploy.callbacks import callback_attempt, callback_give_up
from agents.deploy.schedules import schedules_tick


@shared_task(name="agents.deploy.tasks.tick_schedules", acks_late=True, time_limit=120, ignore_result=True)
def tick_schedules() -> int:
    """Fire the due schedules; returns how many runs started. Idempotent: a fired schedule's
    ``next_run_at`` moves forward in the same transaction."""
    return len(schedules_tick())


@shared_task(
    name="agents.deploy.tasks.deliver_callback",
    bind=True,
    acks_late=True,
    time_limit=60,
    ignore_result=True,
    max_retries=None,
)
def deliver_callback(self: Any, delivery_id: int) -> str:
    """One attempt of an outbound callback; retried with exponential backoff
    (``STUDIO_CALLBACK_RETRY_BASE_S`` * 2^n seconds) up to ``STUDIO_CALLBACK_MAX_ATTEMPTS`` attempts."""
    outcome = callback_attempt(delivery_id)
    if outcome != "retry":
        return outcome
    if self.request.retries + 1 >= settings.STUDIO_CALLBACK_MAX_ATTEMPTS:
        callback_give_up(delivery_id)
        return "failed"
    raise self.retry(countdown=settings.STUDIO_CALLBACK_RETRY_BASE_S * 2**self.request.retries)
