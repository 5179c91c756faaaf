"""Workflow settings pages: rename, description, budgets, timeout, concurrency, duplicate, delete;
"New workflow" with a name and import of a JSON/YAML export from the project page.

Objects come through ``access_project`` / ``access_workflow``: ``change`` to
edit, duplicate, create and import; ``delete`` (admins and owners) to delete.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from agents.models import Workflow
from agents.selectors import access_workflow
from agents.services import workflows as svc
from agents.services.workflow_admin import workflow_delete, workflow_duplicate
from studio.models import Project
from studio.selectors import access_project, has_object_perm, projects_visible, user_role


class WorkflowSettingsForm(forms.Form):
    """Name, description and the defaults of the workflow's runs (empty budget: no limit)."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    max_concurrency = forms.IntegerField(min_value=1, max_value=64, help_text="Nodes of one run executing at once.")
    budget_tokens = forms.IntegerField(required=False, min_value=1, max_value=2_000_000_000, label="Budget (tokens)")
    budget_usd = forms.DecimalField(
        required=False,
        min_value=Decimal("0.000001"),
        max_value=Decimal("1000000"),
        max_digits=13,
        decimal_places=6,
        label="Budget (USD)",
    )
    timeout_s = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=7 * 24 * 3600,
        label="Timeout (seconds)",
        help_text="Empty: the project's default, else STUDIO_RUN_TIMEOUT_S.",
    )


def _page(
    request: HttpRequest, project: Project, workflow: Workflow, form: WorkflowSettingsForm, *, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "workflow": workflow,
        "form": form,
        "runs": workflow.runs.count(),
        "can_delete": has_object_perm(request.user, workflow, project, "delete"),
        "nav_projects": projects_visible(request.user),
        "role": user_role(request.user, project),
    }
    return render(request, "agents/workflow_settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_settings(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The workflow's settings form (editors and above); a bad value re-renders with 400 and nothing is saved."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    if request.method == "GET":
        initial = {key: getattr(workflow, key) for key in WorkflowSettingsForm.base_fields}
        return _page(request, project, workflow, WorkflowSettingsForm(initial=initial))
    form = WorkflowSettingsForm(request.POST)
    if not form.is_valid():
        return _page(request, project, workflow, form, status=400)
    data = dict(form.cleaned_data)
    data["name"] = data["name"].strip()
    svc.workflow_update_settings(workflow=workflow, user=request.user, **data)
    messages.success(request, "Workflow settings saved.")
    return redirect("workflow-settings", project_slug=project.slug, workflow_slug=workflow.slug)


@login_required
@require_POST
def workflow_duplicate_view(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Copy the draft, description and settings into a new workflow and open it."""
    project = access_project(user=request.user, slug=project_slug, perm="change")
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    try:
        copy = workflow_duplicate(workflow=workflow, user=request.user, name=request.POST.get("name", "")[:200])
    except svc.WorkflowError as exc:
        messages.error(request, exc.message)
        return redirect("workflow-settings", project_slug=project.slug, workflow_slug=workflow.slug)
    messages.success(request, f"Duplicated as {copy.name}.")
    return redirect("workflow-detail", project_slug=project.slug, workflow_slug=copy.slug)


@login_required
@require_POST
def workflow_delete_view(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Delete the workflow (admins and owners); ``runs=keep`` keeps its runs readable, ``runs=delete`` deletes them."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="delete")
    choice = request.POST.get("runs", "")
    if choice not in ("keep", "delete"):
        messages.error(request, "Choose whether to keep or delete the workflow's runs.")
        return redirect("workflow-settings", project_slug=project.slug, workflow_slug=workflow.slug)
    workflow_delete(workflow=workflow, user=request.user, keep_runs=choice == "keep")
    kept = "Its runs are kept." if choice == "keep" else "Its runs were deleted."
    messages.success(request, f"Workflow {workflow.name} deleted. {kept}")
    return redirect("project-home", project_slug=project.slug)


@login_required
@require_POST
def workflow_import_page(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Import a JSON or YAML export (a file) as a new workflow and open it in the editor."""
    from agents.interchange import MAX_DOCUMENT_BYTES, InterchangeError, import_document

    project = access_project(user=request.user, slug=project_slug, perm="change")
    upload = request.FILES.get("file")
    back = reverse("project-home", args=[project.slug])
    if upload is None:
        messages.error(request, "Choose a .json or .yaml file exported from Studio.")
        return redirect(back)
    if upload.size is not None and upload.size > MAX_DOCUMENT_BYTES:
        messages.error(request, f"The file is larger than {MAX_DOCUMENT_BYTES // 1024} KB.")
        return redirect(back)
    name = upload.name or ""
    fmt = "yaml" if name.lower().endswith((".yaml", ".yml")) else "json" if name.lower().endswith(".json") else None
    try:
        workflow, warnings = import_document(project=project, user=request.user, text=upload.read(), fmt=fmt)
    except InterchangeError as exc:
        messages.error(request, f"Not imported: {exc.message}")
        return redirect(back)
    except svc.WorkflowError as exc:
        messages.error(request, f"Not imported: {exc.message}")
        return redirect(back)
    messages.success(
        request, f"Imported {workflow.name}." + (f" {len(warnings)} warning(s): {warnings[0]}" if warnings else "")
    )
    return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)
