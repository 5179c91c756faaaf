"""Reads of evaluations, filtered by permission (see ``studio.selectors``).

A dataset's access follows its project's roles; a suite and its runs follow
their workflow's (``access_workflow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from agents.evaluations.models import CaseResult, CaseStatus, Dataset, Suite, SuiteRun, SuiteRunStatus
from agents.models import Workflow
from agents.selectors import access_workflow
from studio.models import Project
from studio.selectors import access_project
from traces.models import Score


def access_dataset(*, user: Any, pk: int, perm: str = "view", project: Project | None = None) -> Dataset:
    """Fetch a dataset by ``pk`` (in ``project`` when given). Raises Http404 (no such dataset, or the
    user may not view its project) / PermissionDenied (the user lacks ``perm`` in the project)."""
    dataset = Dataset.objects.select_related("project", "workflow").filter(pk=pk).first()
    if dataset is None or (project is not None and dataset.project_id != project.pk):
        raise Http404("Dataset not found.")
    access_project(user=user, pk=dataset.project_id, perm=perm)
    return dataset


def datasets_of(*, project: Project) -> QuerySet[Dataset]:
    """Datasets of an already-accessed project, by name."""
    return Dataset.objects.filter(project=project).select_related("workflow").order_by("name")


def access_suite_run(*, user: Any, pk: int, perm: str = "view") -> SuiteRun:
    """Fetch a suite run; access follows its workflow. Raises Http404 / PermissionDenied."""
    suite_run = (
        SuiteRun.objects.select_related("workflow", "workflow__project", "version", "suite").filter(pk=pk).first()
    )
    if suite_run is None or suite_run.workflow.deleted_at is not None:
        raise Http404("Suite run not found.")
    access_workflow(user=user, pk=suite_run.workflow_id, perm=perm)
    return suite_run


def suite_of(*, workflow: Workflow) -> Suite | None:
    return Suite.objects.filter(workflow=workflow).first()


def suite_runs_of(*, workflow: Workflow, limit: int = 20) -> list[SuiteRun]:
    return list(
        SuiteRun.objects.filter(workflow=workflow).select_related("version").order_by("-created_at", "-id")[:limit]
    )


def previous_suite_run(*, suite_run: SuiteRun) -> SuiteRun | None:
    """The finished suite run of the same suite just before this one."""
    return (
        SuiteRun.objects.filter(suite_id=suite_run.suite_id, created_at__lt=suite_run.created_at)
        .exclude(status=SuiteRunStatus.RUNNING)
        .order_by("-created_at", "-id")
        .first()
    )


@dataclass
class GridRow:
    """One case of a suite run with how it compares to the previous run: ``change`` is
    ``regression`` (passed before, fails now), ``fix`` (failed before, passes now) or ``""``."""

    result: CaseResult
    change: str
    checks: dict[str, dict[str, Any]]
    diff: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # per expected field


def suite_run_grid(*, suite_run: SuiteRun) -> tuple[list[str], list[GridRow]]:
    """Check names (columns) and one row per case, compared with :func:`previous_suite_run` by case."""
    results = list(suite_run.results.select_related("run").order_by("position", "id"))
    previous = previous_suite_run(suite_run=suite_run)
    before: dict[int, str] = {}
    if previous is not None:
        before = {r.case_id: r.status for r in previous.results.all() if r.case_id is not None}
    seen = {check["name"] for result in results for check in result.checks}
    ordered = list(suite_run.suite.checks.order_by("position", "id").values_list("name", flat=True))
    # The suite's order; checks since removed from the suite (still in this run's results) at the end.
    names = [n for n in ordered if n in seen or not seen] + sorted(seen - set(ordered))
    rows = []
    for result in results:
        old = before.get(result.case_id) if result.case_id is not None else None
        change = ""
        if old == CaseStatus.PASSED and result.status == CaseStatus.FAILED:
            change = "regression"
        elif old == CaseStatus.FAILED and result.status == CaseStatus.PASSED:
            change = "fix"
        rows.append(GridRow(result=result, change=change, checks={c["name"]: c for c in result.checks}))
    return names, rows


def scores_for_run(*, run_id: int, project_id: int) -> list[Score]:
    """Scores of an already-accessed run, oldest first."""
    return list(
        Score.objects.filter(run_id=run_id, project_id=project_id)
        .select_related("created_by")
        .order_by("created_at", "id")
    )
