"""The Celery app. Queues: ``runs`` (workflow runs) and ``default`` (housekeeping)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Read from the environment, not settings: this module is imported while the settings load.
app.conf.beat_schedule = {
    "sweep-expired-run-leases": {
        "task": "agents.tasks.sweep_runs",
        "schedule": float(os.environ.get("STUDIO_SWEEP_SECONDS", "5")),  # as settings.STUDIO_SWEEP_SECONDS
    },
    "enforce-trace-retention": {  # per-project trace_retention_days (traces.services.retention_enforce)
        "task": "traces.tasks.enforce_retention",
        "schedule": float(os.environ.get("STUDIO_RETENTION_SWEEP_SECONDS", "3600")),
    },
    "usage-rollup": {  # hourly usage rollups for the usage page (agents.observability.rollups)
        "task": "agents.tasks.usage_rollup",
        "schedule": float(os.environ.get("STUDIO_USAGE_ROLLUP_SECONDS", "60")),
    },
    # Workflow schedules (agents.deploy.schedules): fires the due ones; missed times fire once, not piled up.
    "deploy-schedules-tick": {
        "task": "agents.deploy.tasks.tick_schedules",
        "schedule": float(os.environ.get("STUDIO_SCHEDULE_TICK_SECONDS", "15")),
    },
}
