"""Reads of workflows and runs, filtered by permission (see ``studio.selectors``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from agents.models import Run, RunEvent, Step, Workflow, WorkflowVersion
from studio.models import Project
from studio.selectors import check_object_access, has_project_perm, visible_in_projects

# A run's permissions follow its workflow's ("run" on a workflow lets you start and cancel runs).


def access_workflow(
    *, user: Any, perm: str = "view", pk: int | None = None, project: Project | None = None, slug: str | None = None
) -> Workflow:
    """Fetch a workflow by ``pk``, or by ``project`` + ``slug``.

    Raises ``Http404`` when it does not exist, was deleted or the user may not
    view it, ``PermissionDenied`` when the user may view but lacks ``perm``.
    """
    qs = Workflow.objects.select_related("project").filter(deleted_at__isnull=True)
    if pk is not None:
        workflow = qs.filter(pk=pk).first()
    elif project is not None and slug is not None:
        workflow = qs.filter(project=project, slug=slug).first()
    else:
        raise ValueError("access_workflow needs pk, or project and slug")
    if workflow is None:
        raise Http404("Workflow not found.")
    return check_object_access(user, workflow, workflow.project, perm)


def access_run(*, user: Any, pk: int, perm: str = "view") -> Run:
    """Fetch a run; access follows its workflow. Raises Http404 / PermissionDenied
    (also for any ``perm`` but ``view`` when its workflow was deleted with its runs kept)."""
    run = Run.objects.select_related("workflow", "workflow__project", "version").filter(pk=pk).first()
    if run is None:
        raise Http404("Run not found.")
    check_object_access(user, run.workflow, run.workflow.project, perm)
    if perm != "view" and run.workflow.deleted_at is not None:
        raise PermissionDenied("The workflow of this run was deleted: its runs can be read, not rerun or changed.")
    return run


def access_workflow_version(*, user: Any, workflow: Workflow, version: int) -> WorkflowVersion:
    """A published version of an already-accessed workflow. Raises Http404."""
    found = workflow.versions.filter(version=version).first()
    if found is None:
        raise Http404(f"Workflow {workflow.slug} has no version {version}.")
    return found


def workflows_visible(
    *, user: Any, project: Project | None = None, include_deleted: bool = False
) -> QuerySet[Workflow]:
    """Workflows the user may view, optionally in one project; deleted ones (runs kept) only when asked."""
    qs = visible_in_projects(user, Workflow.objects.select_related("project"))
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    if project is not None:
        qs = qs.filter(project=project)
    return qs


def runs_visible(*, user: Any, project: Project | None = None, workflow: Workflow | None = None) -> QuerySet[Run]:
    """Runs of workflows the user may view, newest first."""
    workflows = workflows_visible(user=user, project=project, include_deleted=True)
    qs = Run.objects.select_related("workflow", "version").filter(workflow__in=workflows)
    if workflow is not None:
        qs = qs.filter(workflow=workflow)
    return qs.order_by("-created_at", "-id")


def run_steps(*, run: Run) -> QuerySet[Step]:
    """Steps of an already-accessed run in execution order."""
    return run.steps.order_by("started_at", "id")


def run_cancelled_by(*, run: Run) -> str:
    """The username of whoever cancelled ``run`` (from the audit log; "" when it was not cancelled by a person)."""
    if run.status != "cancelled" and not run.cancel_requested:
        return ""
    from studio.models import AuditEvent

    name = (
        AuditEvent.objects.filter(verb="run.cancel", object_type="agents.run", object_id=str(run.pk))
        .order_by("-created_at")
        .values_list("actor_username", flat=True)
        .first()
    )
    return name or ""


def run_events_after(*, run: Run, after: int = 0, limit: int = 10_000) -> list[RunEvent]:
    """Stored events of an already-accessed run with ``seq > after``, in order."""
    return list(run.events.filter(seq__gt=after).order_by("seq")[:limit])


def can_run(*, user: Any, workflow: Workflow) -> bool:
    """Whether ``user`` may start runs of ``workflow`` (for showing the Run button)."""
    from studio.selectors import has_object_perm

    return has_object_perm(user, workflow, workflow.project, "run")


def can_edit(*, user: Any, workflow: Workflow) -> bool:
    from studio.selectors import has_object_perm

    return has_object_perm(user, workflow, workflow.project, "change")


__all__ = [
    "access_run",
    "access_workflow",
    "access_workflow_version",
    "can_edit",
    "can_run",
    "has_project_perm",
    "run_events_after",
    "run_steps",
    "runs_visible",
    "workflows_visible",
]
