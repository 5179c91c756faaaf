"""HTML pages of evaluations: datasets, a workflow's test suite, a suite run's grid; run-page actions
(feedback, add to dataset). Typed function views: validate → service/selector → render."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from agents.evaluations import checks as check_fns
from agents.evaluations import selectors as sel
from agents.evaluations import services as svc
from agents.evaluations.models import CheckKind, DatasetVersion, SuiteRunStatus
from agents.models import Workflow
from agents.selectors import access_run, access_workflow, access_workflow_version, can_edit, can_run, workflows_visible
from agents.services.workflows import WorkflowError, workflow_publish
from studio.models import Project
from studio.selectors import access_project, has_project_perm, projects_visible, user_role


def _page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    project = context.get("project")
    context = {
        "nav_projects": projects_visible(request.user),
        "role": user_role(request.user, project) if project else None,
        **context,
    }
    return render(request, template, context, status=status)


def error_lines(exc: svc.EvaluationError) -> list[str]:
    """An error's details as lines a person reads: ``row 3: question: field required``."""
    errors = exc.errors
    if isinstance(errors, dict):
        return [f"{key}: {value}" for key, value in errors.items()]
    lines = []
    for item in errors or []:
        if isinstance(item, dict):
            where = ", ".join(f"{k} {v}" for k, v in item.items() if k != "errors")
            inner = item.get("errors")
            detail = "; ".join(f"{k}: {v}" for k, v in inner.items()) if isinstance(inner, dict) else str(inner or "")
            lines.append(f"{where}: {detail}" if where else detail)
        else:
            lines.append(str(item))
    return lines


def _json_field(text: str, what: str) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise svc.EvaluationError(
            f"{what} is not valid JSON: {exc}", code="invalid_json", errors={what: "not valid JSON"}
        ) from None


# ------------------------------------------------------------------ datasets


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request: HttpRequest, project_slug: str) -> HttpResponse:
    project = access_project(
        user=request.user, slug=project_slug, perm="change" if request.method == "POST" else "view"
    )
    error = None
    if request.method == "POST":
        workflow = access_workflow(user=request.user, project=project, slug=request.POST.get("workflow", ""))
        try:
            dataset = svc.dataset_create(
                project=project,
                user=request.user,
                name=request.POST.get("name", ""),
                workflow=workflow,
                description=request.POST.get("description", ""),
            )
        except svc.EvaluationError as exc:
            error = exc.message
        else:
            return redirect("dataset-detail", project.slug, dataset.pk)
    return _page(
        request,
        "evaluations/dataset_list.html",
        {
            "project": project,
            "datasets": sel.datasets_of(project=project),
            "error": error,
            "workflows": workflows_visible(user=request.user, project=project).order_by("name"),
            "can_edit": has_project_perm(request.user, project, "change"),
        },
        status=400 if error else 200,
    )


def _dataset_context(request: HttpRequest, project: Project, dataset: Any, **extra: Any) -> dict[str, Any]:
    versions = list(dataset.versions.order_by("-number"))
    shown: DatasetVersion | None = versions[0] if versions else None
    wanted = request.GET.get("version")
    if wanted and wanted.isdigit():
        shown = next((v for v in versions if v.number == int(wanted)), shown)
    return {
        "project": project,
        "dataset": dataset,
        "versions": versions,
        "shown": shown,
        "rows": list(shown.rows.all()[:500]) if shown else [],
        "fields": dataset.fields,
        "can_edit": has_project_perm(request.user, project, "change"),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def dataset_detail(request: HttpRequest, project_slug: str, dataset_id: int) -> HttpResponse:
    """The rows of a dataset version; POST adds one row by hand (``input-<field>``, ``expected`` JSON, ``tags``)."""
    project = access_project(user=request.user, slug=project_slug)
    dataset = sel.access_dataset(
        user=request.user, pk=dataset_id, project=project, perm="change" if request.method == "POST" else "view"
    )
    if request.method == "POST":
        inputs = {
            f["name"]: request.POST[f"input-{f['name']}"]
            for f in dataset.fields
            if request.POST.get(f"input-{f['name']}", "") != ""
        }
        try:
            expected = _json_field(request.POST.get("expected", ""), "expected")
            svc.dataset_rows_add(
                dataset=dataset,
                user=request.user,
                source="page",
                rows=[{"inputs": inputs, "expected": expected, "tags": request.POST.get("tags", "")}],
            )
        except svc.EvaluationError as exc:
            return _page(
                request,
                "evaluations/dataset_detail.html",
                _dataset_context(request, project, dataset, error=exc, error_lines=error_lines(exc)),
                status=400,
            )
        messages.success(request, "Row added.")
        return redirect("dataset-detail", project.slug, dataset.pk)
    return _page(request, "evaluations/dataset_detail.html", _dataset_context(request, project, dataset))


@login_required
@require_POST
def dataset_upload(request: HttpRequest, project_slug: str, dataset_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug)
    dataset = sel.access_dataset(user=request.user, pk=dataset_id, project=project, perm="change")
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise svc.EvaluationError("Choose a .csv or .jsonl file to upload.", code="no_file")
        version = svc.dataset_upload(
            dataset=dataset, user=request.user, filename=upload.name or "", content=upload.read()
        )
    except svc.EvaluationError as exc:
        return _page(
            request,
            "evaluations/dataset_detail.html",
            _dataset_context(request, project, dataset, upload_error=exc, error_lines=error_lines(exc)),
            status=400,
        )
    messages.success(request, f"Rows uploaded to version {version.number}.")
    return redirect("dataset-detail", project.slug, dataset.pk)


@login_required
@require_POST
def run_add_to_dataset(request: HttpRequest, run_id: int) -> HttpResponse:
    """Add a run's inputs (and outputs as the expected values) to a dataset of its project."""
    run = access_run(user=request.user, pk=run_id)
    raw = request.POST.get("dataset", "")
    if not raw.isdigit():
        messages.error(request, "Choose a dataset.")
        return redirect("run-detail", run.pk)
    dataset = sel.access_dataset(user=request.user, pk=int(raw), project=run.project, perm="change")
    try:
        version = svc.dataset_add_run(dataset=dataset, run=run, user=request.user)
    except svc.EvaluationError as exc:
        messages.error(request, f"Not added: {exc.message} {json.dumps(exc.errors) if exc.errors else ''}")
        return redirect("run-detail", run.pk)
    messages.success(request, f"Added to {dataset.name} (version {version.number}).")
    return redirect("run-detail", run.pk)


@login_required
@require_POST
def run_feedback(request: HttpRequest, run_id: int) -> HttpResponse:
    """Thumbs up/down and a comment on a run (or one of its steps: ``step``), stored as a human score."""
    run = access_run(user=request.user, pk=run_id, perm="run")
    thumbs = request.POST.get("thumbs")
    step = request.POST.get("step", "")
    try:
        if thumbs not in ("up", "down"):
            raise svc.EvaluationError("Choose thumbs up or down.", code="invalid_score")
        svc.score_add(
            run=run,
            user=request.user,
            name="thumbs",
            value=1.0 if thumbs == "up" else 0.0,
            label=thumbs,
            comment=request.POST.get("comment", "")[:5000],
            step_id=int(step) if step.isdigit() else None,
        )
    except svc.EvaluationError as exc:
        messages.error(request, f"Feedback not saved: {exc.message}")
    else:
        messages.success(request, "Thanks — feedback saved.")
    return redirect("run-detail", run.pk)


# ------------------------------------------------------------------ suites


def _suite_context(request: HttpRequest, project: Project, workflow: Workflow, **extra: Any) -> dict[str, Any]:
    suite = sel.suite_of(workflow=workflow)
    runs = sel.suite_runs_of(workflow=workflow)
    for suite_run in runs:
        if suite_run.status == SuiteRunStatus.RUNNING:
            svc.suite_run_refresh(suite_run=suite_run)
    try:
        fields = svc.workflow_input_fields(workflow.draft_graph)
        graph_error = ""
    except svc.EvaluationError as exc:
        fields, graph_error = [], exc.message
    return {
        "project": project,
        "workflow": workflow,
        "suite": suite,
        "graph_error": graph_error,
        "fields": fields,
        "cases": list(suite.cases.all()) if suite else [],
        "checks": list(suite.checks.all()) if suite else [],
        "suite_runs": sel.suite_runs_of(workflow=workflow),
        "datasets": sel.datasets_of(project=project),
        "kinds": CheckKind.choices,
        "can_edit": can_edit(user=request.user, workflow=workflow),
        "can_run": can_run(user=request.user, workflow=workflow),
        "can_override": has_project_perm(request.user, project, "manage"),
        "versions": list(workflow.versions.order_by("-version")[:20]),
        "gate": svc.suite_gate(workflow=workflow, graph=workflow.draft_graph),
        **extra,
    }


def _check_config_from_form(kind: str, post: Any) -> dict[str, Any]:
    """A check's config from the suite page's form (only the keys its kind uses; numbers parsed)."""
    config: dict[str, Any] = {}
    for key in ("field", "value", "pattern", "expression", "prompt", "label", "endpoint", "scale"):
        if post.get(key, "").strip():
            config[key] = post[key].strip()
    for key in ("tolerance", "max_usd", "max_ms", "threshold"):
        if post.get(key, "").strip():
            try:
                config[key] = float(post[key])
            except ValueError:
                config[key] = post[key]
    if kind == "numeric_tolerance" and "value" in config:
        try:
            config["value"] = float(config["value"])
        except ValueError:
            pass
    if post.get("schema", "").strip():
        config["schema"] = _json_field(post["schema"], "schema")
    if kind != "llm_judge":
        for key in ("prompt", "label", "endpoint", "scale", "threshold"):
            config.pop(key, None)
    return config


@login_required
@require_http_methods(["GET", "POST"])
def workflow_suite(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The suite page; POST ``action``: ``add_check``, ``add_case``, ``from_dataset``, ``delete_check``,
    ``delete_case`` (editors)."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(
        user=request.user, project=project, slug=workflow_slug, perm="change" if request.method == "POST" else "view"
    )
    if request.method == "GET":
        return _page(request, "evaluations/workflow_suite.html", _suite_context(request, project, workflow))
    action = request.POST.get("action", "")
    try:
        if action == "add_check":
            kind = request.POST.get("kind", "")
            svc.suite_check_add(
                workflow=workflow,
                user=request.user,
                name=request.POST.get("name", "").strip(),
                kind=kind,
                config=_check_config_from_form(kind, request.POST),
            )
        elif action == "add_case":
            fields = svc.workflow_input_fields(workflow.draft_graph)
            inputs = {
                f["name"]: request.POST[f"input-{f['name']}"]
                for f in fields
                if request.POST.get(f"input-{f['name']}", "") != ""
            }
            svc.suite_case_add(
                workflow=workflow,
                user=request.user,
                name=request.POST.get("name", ""),
                inputs=inputs,
                expected=_json_field(request.POST.get("expected", ""), "expected"),
            )
        elif action == "from_dataset":
            raw = request.POST.get("dataset", "")
            dataset = sel.access_dataset(user=request.user, pk=int(raw) if raw.isdigit() else 0, project=project)
            latest = dataset.latest_version()
            if latest is None:
                raise svc.EvaluationError("The dataset has no rows.", code="no_rows")
            svc.suite_cases_from_dataset(workflow=workflow, user=request.user, version=latest)
        elif action in ("delete_check", "delete_case"):
            raw = request.POST.get("id", "")
            item = int(raw) if raw.isdigit() else 0
            svc.suite_item_delete(
                workflow=workflow,
                user=request.user,
                check_id=item if action == "delete_check" else None,
                case_id=item if action == "delete_case" else None,
            )
        else:
            raise svc.EvaluationError("Unknown action.", code="invalid_action")
    except svc.EvaluationError as exc:
        return _page(
            request,
            "evaluations/workflow_suite.html",
            _suite_context(request, project, workflow, error=exc, action=action, error_lines=error_lines(exc)),
            status=400,
        )
    return redirect("workflow-suite", project.slug, workflow.slug)


@login_required
@require_POST
def workflow_suite_run(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Run the suite on the draft (``version`` empty) or a published version; go to its grid.

    ``replay``: "" (call the model and record), ``replay`` or ``fill`` (see ``suite_run_start``)."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="run")
    raw = request.POST.get("version", "")
    version = access_workflow_version(user=request.user, workflow=workflow, version=int(raw)) if raw.isdigit() else None
    try:
        suite_run = svc.suite_run_start(
            workflow=workflow, user=request.user, version=version, replay=request.POST.get("replay", "")
        )
    except svc.EvaluationError as exc:
        return _page(
            request,
            "evaluations/workflow_suite.html",
            _suite_context(request, project, workflow, error=exc, action="run", error_lines=error_lines(exc)),
            status=400,
        )
    return redirect("suite-run-detail", suite_run.pk)


@login_required
@require_POST
def workflow_suite_publish(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Publish the draft from the suite page; admins may give ``override_reason`` past a failing suite."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    try:
        version = workflow_publish(
            workflow=workflow,
            user=request.user,
            note=request.POST.get("note", "")[:500],
            override_reason=request.POST.get("override_reason", "")[:1000],
        )
    except WorkflowError as exc:
        return _page(
            request,
            "evaluations/workflow_suite.html",
            _suite_context(request, project, workflow, publish_error=exc),
            status=getattr(exc, "status_code", 400),
        )
    messages.success(request, f"Published version {version.version}.")
    return redirect("workflow-suite", project.slug, workflow.slug)


@login_required
def suite_run_detail(request: HttpRequest, suite_run_id: int) -> HttpResponse:
    """A suite run's grid (case x check), with regressions and fixes against the previous run."""
    suite_run = svc.suite_run_refresh(suite_run=sel.access_suite_run(user=request.user, pk=suite_run_id))
    names, rows = sel.suite_run_grid(suite_run=suite_run)
    for row in rows:
        expected = row.result.expected or {}
        outputs = row.result.outputs or {}
        row.diff = (
            [(key, check_fns.diff_text(value, outputs.get(key))) for key, value in expected.items()]
            if (outputs)
            else []
        )
    context = {
        "project": suite_run.workflow.project,
        "workflow": suite_run.workflow,
        "suite_run": suite_run,
        "names": names,
        "rows": rows,
        "previous": sel.previous_suite_run(suite_run=suite_run),
        "running": suite_run.status == SuiteRunStatus.RUNNING,
        "regressions": sum(r.change == "regression" for r in rows),
        "fixes": sum(r.change == "fix" for r in rows),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "evaluations/partials/suite-grid.html", context)
    return _page(request, "evaluations/suite_run_detail.html", context)


def suite_url(workflow: Workflow) -> str:
    return reverse("workflow-suite", args=[workflow.project.slug, workflow.slug])
