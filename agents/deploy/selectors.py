"""Reads of deployments. The workflow was already fetched through ``agents.selectors.access_workflow``."""

from __future__ import annotations

from django.db.models import QuerySet

from agents.deploy.models import Deployment
from agents.models import Workflow, WorkflowVersion


def deployment_live(*, workflow: Workflow) -> Deployment | None:
    """The workflow's current deployment (its newest), or None when it was never deployed."""
    return Deployment.objects.select_related("version", "deployed_by").filter(workflow=workflow).first()


def live_version(*, workflow: Workflow) -> WorkflowVersion | None:
    """The published version that is live (what the invoke API and triggers run), or None."""
    deployment = deployment_live(workflow=workflow)
    return deployment.version if deployment is not None else None


def deployment_history(*, workflow: Workflow, limit: int = 50) -> QuerySet[Deployment]:
    """The workflow's deployments, newest first (who, when, which version)."""
    return Deployment.objects.select_related("version", "deployed_by").filter(workflow=workflow)[:limit]
