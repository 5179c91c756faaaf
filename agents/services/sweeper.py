"""The reaper of stuck runs (Celery beat runs it every ``STUDIO_SWEEP_SECONDS``;
in quickstart the local executor does, see ``agents.dispatch``).

A run in ``running`` whose lease expired lost its worker: it is re-dispatched
(the next attempt resumes from its committed steps) or, past the attempt
limit, failed as ``worker_lost`` by the claim. A run ``queued`` for longer
than a minute may have lost its message: it is dispatched again — harmless,
since execution starts with an atomic claim.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from agents.dispatch import run_dispatch
from agents.models import Run, RunStatus
from studio.lib.counters import counter_add

QUEUED_GRACE = dt.timedelta(seconds=60)
#: Counter names (:mod:`studio.lib.counters`): runs found with an expired lease; runs re-dispatched.
LEASE_EXPIRIES = "lease_expiries"
SWEEPER_RECOVERIES = "sweeper_recoveries"


def runs_sweep(*, now: dt.datetime | None = None) -> int:
    """Dispatch every run that needs a (new) worker; returns how many."""
    now = now or timezone.now()
    expired = Run.objects.filter(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    stale = Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=now - QUEUED_GRACE)
    expired_ids = list(expired.values_list("pk", flat=True))
    ids = expired_ids + list(stale.values_list("pk", flat=True))
    for run_id in ids:
        run_dispatch(run_id)
    counter_add(LEASE_EXPIRIES, len(expired_ids))  # Prometheus /metrics (agents.metrics)
    counter_add(SWEEPER_RECOVERIES, len(ids))
    return len(ids)
