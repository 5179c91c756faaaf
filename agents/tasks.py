"""Celery tasks: thin, idempotent, enqueued on commit (by ``agents.dispatch``).

A message only says "advance run X"; PostgreSQL holds the run's state, so a
duplicate or re-delivered message is harmless (the claim fails).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_init

from agents.dispatch import EXECUTE_RUN_TASK
from agents.runtime import run_execute
from agents.services.sweeper import runs_sweep
from studio.lib.loops import run_in_worker_loop


@worker_init.connect
def preload_gateway(**_: Any) -> None:
    """In the worker's master process, before the pool forks: import litellm and the openai SDK once.

    Every pool child then inherits them instead of paying the import (seconds) on its first run.
    """
    from traces import gateway

    gateway.preload()


@shared_task(
    name=EXECUTE_RUN_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=3600,
    time_limit=3700,
)
def execute_run(run_id: int) -> str | None:
    """Execute run ``run_id`` on this worker (no-op if another attempt holds it)."""
    # One event loop per worker process, reused by every run: its HTTP clients and Redis connection too.
    return run_in_worker_loop(run_execute(run_id))


@shared_task(name="agents.tasks.sweep_runs", ignore_result=True, time_limit=60)
def sweep_runs() -> int:
    """Re-dispatch runs whose worker vanished (expired lease) or whose message was lost."""
    return runs_sweep()


@shared_task(name="agents.tasks.send_budget_webhook", acks_late=True, ignore_result=True, time_limit=60)
def send_budget_webhook(alert_id: int) -> str:
    """POST a budget alert to the project's webhook (idempotent: an alert is sent once)."""
    from agents.services.budgets import budget_webhook_send

    return budget_webhook_send(alert_id)


@shared_task(name="agents.tasks.usage_rollup", ignore_result=True, time_limit=120)
def usage_rollup() -> int:
    """Beat task (every minute): fold new spans and runs into the hourly usage rollups
    (``agents.observability.rollups.rollup_pass``). Returns the count of cells recomputed."""
    from agents.observability.rollups import rollup_pass

    return rollup_pass()
