"""Studio's composition root and platform core (projects, roles, audit, secrets, API keys)."""

from studio.celery import app as celery_app

__all__ = ["celery_app"]
