"""Workflow settings from the app: duplicate, delete (runs kept or deleted).

The caller fetched the workflow with ``access_workflow`` (``change`` to
duplicate, ``delete`` to delete). Atomic and audited.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Workflow
from agents.services.workflows import SETTINGS_KEYS, workflow_create
from studio.services import audit_record


def workflow_duplicate(*, workflow: Workflow, user: Any, name: str = "") -> Workflow:
    """A new workflow with a copy of the draft graph, description and settings (no versions, no runs).

    ``name`` defaults to "<name> (copy)". Raises ``WorkflowError`` for an empty name.
    """
    return workflow_create(
        project=workflow.project,
        user=user,
        name=(name or f"{workflow.name} (copy)").strip(),
        graph=copy.deepcopy(workflow.draft_graph),
        description=workflow.description,
        settings={key: getattr(workflow, key) for key in SETTINGS_KEYS},
        audit_verb="workflow.duplicate",
        audit_data={"from": workflow.slug},
    )


@transaction.atomic
def workflow_delete(*, workflow: Workflow, user: Any, keep_runs: bool) -> None:
    """Delete a workflow.

    ``keep_runs``: the workflow is hidden (``deleted_at``) and its slug freed
    (renamed ``deleted-<id>-<slug>``), while its runs, steps and versions stay
    readable on their pages and in the API. Otherwise the workflow, its
    versions, runs, steps and events are deleted. Audited either way.
    """
    locked = Workflow.objects.select_for_update().select_related("project").get(pk=workflow.pk)
    runs = locked.runs.count()
    audit_record(
        project=locked.project,
        actor=user,
        verb="workflow.delete",
        obj=locked,
        data={"slug": locked.slug, "name": locked.name, "runs": runs, "runs_kept": keep_runs},
    )
    if keep_runs:
        locked.deleted_at = timezone.now()
        locked.slug = f"deleted-{locked.pk}-{locked.slug}"[:64]
        locked.save(update_fields=["deleted_at", "slug", "updated_at"])
    else:
        locked.delete()
