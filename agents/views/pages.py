"""HTML pages: projects, a project's workflows and runs, a workflow, a run.

Typed function views: validate → selector/service → render. Objects are
fetched only through the ``access_*`` selectors (404 when the user may not see
them, 403 when they may see but not act). An htmx request that is not boosted
gets the page's fragment instead of the whole page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from agents.fragments import RunView, StepView, ago, graph_view, pretty_json, run_node_statuses
from agents.models import Run, Step, Workflow, WorkflowVersion
from agents.observability.usage import workflow_month_totals
from agents.selectors import (
    access_run,
    access_workflow,
    can_edit,
    can_run,
    run_cancelled_by,
    run_steps,
    runs_visible,
    workflows_visible,
)
from studio.models import Project
from studio.selectors import access_project, has_project_perm, projects_visible, user_role

RECENT_RUNS = 15

# ------------------------------------------------------------------ helpers


def _page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """Render a full page with the sidebar's context (the user's projects, the current one, its role)."""
    project = context.get("project")
    context = {
        "nav_projects": projects_visible(request.user),
        "role": user_role(request.user, project) if project else None,
        **context,
    }
    return render(request, template, context, status=status)


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx and not request.htmx.boosted)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if _is_fragment(request) else redirect(url)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent read of several tables (PostgreSQL REPEATABLE READ), so the
    run page and the seq it hands the websocket describe the same moment."""
    outermost = not connection.in_atomic_block  # inside a transaction already (tests): keep its snapshot
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _latest_version(workflow: Workflow) -> WorkflowVersion | None:
    return workflow.versions.order_by("-version").first()


def _input_form(graph: dict[str, Any], data: Any = None) -> RunInputsForm:
    """The inputs form of ``graph``'s input signature; a graph whose signature
    cannot be read gets an empty form carrying ``graph_error``."""
    from agents.engine import input_signature

    try:
        fields = list(input_signature(graph).fields)
    except ValueError as exc:  # GraphValidationError / SignatureError: the draft is not runnable yet
        form = RunInputsForm([], data)
        form.graph_error = str(exc)
        return form
    return RunInputsForm(fields, data)


def _runs_context(request: HttpRequest, runs: Any, *, dom_id: str) -> dict[str, Any]:
    rows = [RunView.from_run(run) for run in runs[:RECENT_RUNS]]
    return {"runs": rows, "table_id": dom_id, "poll": any(not r.is_terminal for r in rows), "poll_url": request.path}


# ------------------------------------------------------------------ inputs form


class JSONValueField(forms.JSONField):
    """A JSON textarea that must hold a list or an object."""

    def __init__(self, *, expected: type, **kwargs: Any) -> None:
        self.expected = expected
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(parsed, self.expected):
            noun = "a JSON list, like [1, 2]" if self.expected is list else 'a JSON object, like {"key": "value"}'
            raise forms.ValidationError(f"Enter {noun}.")
        return parsed


class RunInputsForm(forms.Form):
    """A form built from a workflow's input signature (field names prefixed ``input-``)."""

    graph_error = ""

    def __init__(self, fields: list[Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="input", **kwargs)
        self.specs = {spec.name: spec for spec in fields}
        for spec in fields:
            self.fields[spec.name] = self._field(spec)

    @staticmethod
    def _field(spec: Any) -> forms.Field:
        common: dict[str, Any] = {"required": spec.required, "help_text": spec.description, "label": spec.name}
        if spec.default is not None:
            common["initial"] = spec.default
        if spec.type == "int":
            return forms.IntegerField(**common)
        if spec.type == "float":
            return forms.FloatField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
        if spec.type == "bool":
            return forms.BooleanField(**{**common, "required": False})
        if spec.type == "enum":
            choices = [(c, c) for c in spec.choices]
            return forms.ChoiceField(**common, choices=choices if spec.required else [("", "—"), *choices])
        if spec.type in ("list", "object"):
            placeholder = "[ ]" if spec.type == "list" else "{ }"
            widget = forms.Textarea(attrs={"rows": 4, "class": "mono", "data-json": spec.type, "placeholder": placeholder})
            return JSONValueField(expected=list if spec.type == "list" else dict, widget=widget, **common)
        return forms.CharField(**common, strip=False, widget=forms.Textarea(attrs={"rows": 3}))

    def rows(self) -> list[tuple[forms.BoundField, Any]]:
        """(bound field, its ``FieldSpec``) pairs in signature order, for the template."""
        return [(self[name], spec) for name, spec in self.specs.items()]

    def inputs(self) -> dict[str, Any]:
        """Cleaned values; an optional field left empty is omitted (its default applies)."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if self.specs[name].required or self.specs[name].type == "bool" or value not in (None, "")
        }

    def add_graph_issues(self, issues: list[Any], *, shown: int = 5) -> None:
        """The first ``shown`` problems of an invalid graph (each names its node), then a count."""
        for issue in issues[:shown]:
            self.add_error(None, f"{issue.node_id}: {issue.message}" if issue.node_id else issue.message)
        if len(issues) > shown:
            self.add_error(None, f"…and {len(issues) - shown} more. Open the workflow in the editor to fix them.")

    def add_service_errors(self, errors: dict[str, Any]) -> None:
        for name, problem in errors.items():
            for message in problem if isinstance(problem, (list, tuple)) else [problem]:
                self.add_error(name if name in self.fields else None, str(message))


# ------------------------------------------------------------------ views


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's projects; straight to the project when there is only one (not for "All projects": ``?all=1``)."""
    projects = list(projects_visible(request.user))
    if len(projects) == 1 and not request.GET.get("all"):
        return redirect("project-home", project_slug=projects[0].slug)
    return _page(request, "studio/project_list.html", {"projects": projects})


@login_required
@require_GET
def project_home(request: HttpRequest, project_slug: str) -> HttpResponse:
    """A project's workflows (latest version, last run) and its recent runs."""
    project = access_project(user=request.user, slug=project_slug)
    runs = _runs_context(request, runs_visible(user=request.user, project=project), dom_id=f"project-{project.pk}")
    if _is_fragment(request):
        return render(request, "agents/partials/run-table.html", runs)
    last_run = Run.objects.filter(workflow=OuterRef("pk")).order_by("-created_at", "-id")
    workflows = list(workflows_visible(user=request.user, project=project).annotate(
        latest_version=Max("versions__version"),
        last_run_status=Subquery(last_run.values("status")[:1]),
        last_run_at=Subquery(last_run.values("created_at")[:1]),
    ))
    month = workflow_month_totals(workflow_ids=[w.pk for w in workflows])
    for workflow in workflows:
        workflow.last_run_ago = ago(workflow.last_run_at)
        workflow.month = month.get(workflow.pk)
    can_create = has_project_perm(request.user, project, "change")
    return _page(request, "agents/workflow_list.html", {"project": project, "workflows": workflows, "can_create": can_create, **runs})


def _workflow_page(request: HttpRequest, project: Project, workflow: Workflow, form: RunInputsForm | None, status: int = 200) -> HttpResponse:
    version = _latest_version(workflow)
    graph = version.graph if version else workflow.draft_graph
    form = form or _input_form(graph)
    runs = _runs_context(request, runs_visible(user=request.user, workflow=workflow), dom_id=f"workflow-{workflow.pk}")
    from agents.deploy.selectors import deployment_history

    deployments = list(deployment_history(workflow=workflow, limit=5))
    from agents.deploy.models import ShareLink

    share_links = [
        (link, request.build_absolute_uri(reverse("share-page", args=[link.token])))
        for link in ShareLink.objects.filter(workflow=workflow, revoked_at__isnull=True)[:10]
    ] if can_edit(user=request.user, workflow=workflow) else []
    context = {
        "project": project, "workflow": workflow, "version": version, "form": form,
        "month": workflow_month_totals(workflow_ids=[workflow.pk]).get(workflow.pk),
        "live": deployments[0] if deployments else None, "deployments": deployments, "share_links": share_links,
        "published": list(workflow.versions.order_by("-version").values_list("version", flat=True)[:50]),
        "graph": graph_view(graph, dom_id=f"workflow-{workflow.pk}"),
        "can_run": can_run(user=request.user, workflow=workflow), "can_edit": can_edit(user=request.user, workflow=workflow),
        "hide_workflow": True, **runs,
    }
    if _is_fragment(request):
        template = "agents/partials/run-form.html" if request.method == "POST" else "agents/partials/run-table.html"
        return render(request, template, context, status=status)
    return _page(request, "agents/workflow_detail.html", context, status=status)


@login_required
@require_GET
def workflow_detail(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The workflow's graph (read-only), its inputs form and its recent runs."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug)
    return _workflow_page(request, project, workflow, None)


@login_required
@require_POST
def workflow_run(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Start a run of the latest published version (the draft when none) and go to it.

    Bad inputs or an invalid graph re-render the form with 400.
    """
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="run")
    from agents.services.budgets import ProjectBudgetExceededError
    from agents.services.runs import GraphInvalidError, RunInputError, run_start

    version = _latest_version(workflow)
    form = _input_form(version.graph if version else workflow.draft_graph, request.POST)
    if form.is_valid():
        try:
            run = run_start(workflow=workflow, user=request.user, inputs=form.inputs(), version=version)
        except ProjectBudgetExceededError as exc:
            form.add_error(None, str(exc))
        except RunInputError as exc:
            form.add_service_errors(exc.errors)
        except GraphInvalidError as exc:
            form.add_graph_issues(exc.issues)
        else:
            return _redirect(request, reverse("run-detail", args=[run.pk]))
    return _workflow_page(request, project, workflow, form, status=400)


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run: header, graph with node statuses, steps, outputs; live over ``/ws/runs/<id>/``."""
    with _snapshot():
        run = access_run(user=request.user, pk=run_id)
        steps = list(run_steps(run=run))
        last_seq = run.events.aggregate(last=Max("seq"))["last"] or 0
    view = RunView.from_run(run)
    view.cancelled_by = run_cancelled_by(run=run)
    allowed = can_run(user=request.user, workflow=run.workflow)
    context = {
        "project": run.workflow.project, "workflow": run.workflow, "run": view, "last_seq": last_seq,
        "steps": [_shown_step(StepView.from_step(step), run) for step in steps],
        "graph": graph_view(run.graph, statuses=run_node_statuses(run, steps), dom_id=f"run-{run.pk}"),
        "inputs": pretty_json(run.inputs) if run.inputs else None,
        "can_cancel": run.can_cancel() and not run.cancel_requested and allowed,
        "can_run": allowed,
        "approvals": _waiting_approvals(run, steps) if allowed and run.status == "waiting" else [],
    }
    return _page(request, "agents/run_detail.html", context)


def _shown_step(step: StepView, run: Run) -> StepView:
    """A step a cancel interrupted (still pending, running or waiting) shows as cancelled."""
    if run.status == "cancelled" and step.status in ("pending", "running", "waiting"):
        step.status = "cancelled"
    return step


def _waiting_approvals(run: Run, steps: list[Step]) -> list[dict[str, Any]]:
    """The approval steps waiting for a decision: what the reviewer sees and may edit."""
    found = []
    for step in steps:
        if step.node_type == "approval" and step.status == "waiting":
            found.append({
                "node_id": step.node_id, "iteration": step.iteration, "label": step.label or step.node_id,
                "instructions": str((step.meta or {}).get("instructions") or ""),
                "inputs": step.inputs, "data_text": json.dumps(step.inputs, indent=2, ensure_ascii=False),
            })
    return found


@login_required
@require_POST
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    """A new run of the same version (or draft) with the same inputs; opens its page."""
    from agents.services.runs import GraphInvalidError, RunInputError
    from agents.services.runs import run_retry as retry

    run = access_run(user=request.user, pk=run_id, perm="run")
    try:
        new_run = retry(run=run, user=request.user)
    except (RunInputError, GraphInvalidError) as exc:
        messages.error(request, f"Run #{run.pk} was not retried: {exc}")
        return _redirect(request, reverse("run-detail", args=[run.pk]))
    messages.success(request, f"Run #{new_run.pk} started with the inputs of run #{run.pk}.")
    return _redirect(request, reverse("run-detail", args=[new_run.pk]))


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    """Ask a run to stop (it stops between steps); back to the run page."""
    run = access_run(user=request.user, pk=run_id, perm="run")
    from agents.services.runs import RunStateError
    from agents.services.runs import run_cancel as cancel

    try:
        run = cancel(run=run, user=request.user)
    except RunStateError as exc:
        messages.warning(request, f"Run #{run.pk} was not cancelled: {exc}")
    else:
        stopping = "" if run.is_terminal else " It stops at its next step."
        messages.info(request, f"Cancellation of run #{run.pk} requested.{stopping}")
    return _redirect(request, reverse("run-detail", args=[run.pk]))
