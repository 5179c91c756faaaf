"""The Celery app. Queues: ``runs`` (workflow runs) and ``default`` (housekeeping)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {
    "sweep-expired-run-leases": {
        "task": "agents.tasks.sweep_runs",
        "schedule": 10.0,
    },
}
