"""Pages of deployment: the Deploy action on a workflow's page (a published version becomes live), the API tab."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from agents.deploy.openapi import invoke_path, invoke_snippets
from agents.deploy.selectors import deployment_live
from agents.deploy.services import deployment_create
from agents.engine import input_signature, output_signature
from agents.selectors import access_workflow, access_workflow_version
from agents.views.pages import _page
from studio.selectors import access_project, has_project_perm


@login_required
@require_POST
def workflow_deploy(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Deploy the published version named by the form's ``version`` (editors); back to the workflow page."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    raw = request.POST.get("version", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        messages.error(request, "Choose a published version to deploy.")
        return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)
    try:
        version = access_workflow_version(user=request.user, workflow=workflow, version=int(raw))
    except Http404:
        messages.error(request, f"Version {raw} is not a published version of this workflow.")
        return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)
    deployment_create(workflow=workflow, version=version, user=request.user, note=request.POST.get("note", "")[:500])
    messages.success(request, f"Version {version.version} is live.")
    return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)


@login_required
@require_GET
def workflow_api(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The workflow's API tab: the invoke URL, its input and output signatures, ready ``curl``, Python and
    JavaScript calls of the live version, and the link to its OpenAPI document."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug)
    live = deployment_live(workflow=workflow)
    context: dict[str, Any] = {"project": project, "workflow": workflow, "live": live}
    if live is not None:
        server = request.build_absolute_uri("/")
        context.update(
            invoke_url=server.rstrip("/") + invoke_path(workflow),
            snippets=invoke_snippets(workflow=workflow, version=live.version, server_url=server),
            inputs=input_signature(live.version.graph).fields,
            outputs=output_signature(live.version.graph).fields,
            can_manage_keys=has_project_perm(request.user, project, "manage"),
        )
    return _page(request, "agents/workflow_api.html", context)
