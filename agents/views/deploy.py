"""Pages of deployment: the Deploy action on a workflow's page (a published version becomes live), the API tab."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents.deploy.models import ShareLink
from agents.deploy.openapi import invoke_path, invoke_snippets
from agents.deploy.schedules import next_times, parse_cron, parse_timezone
from agents.deploy.selectors import deployment_live
from agents.deploy.services import deployment_create
from agents.deploy.sharing import (
    ShareRateLimitedError,
    ShareUnavailableError,
    share_link_active,
    share_link_create,
    share_link_revoke,
    share_run_start,
    shared_run,
)
from agents.engine import input_signature, output_signature
from agents.fragments import pretty_json
from agents.models import Workflow
from agents.selectors import access_workflow, access_workflow_version
from agents.services.runs import GraphInvalidError, RunInputError
from agents.views.pages import _input_form, _page
from studio.selectors import access_project, has_object_perm, has_project_perm


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
    if has_object_perm(request.user, workflow, project, "change"):
        context["triggers"] = _triggers(request, workflow)
    return _page(request, "agents/workflow_api.html", context)


def _triggers(request: HttpRequest, workflow: Workflow) -> dict[str, Any]:
    """The workflow's webhooks (absolute URLs), schedules (next 3 times) and callbacks (last 5 deliveries),
    read-only: they are managed through the API (see the README)."""
    now = timezone.now()
    schedules = []
    for schedule in workflow.schedules.all():
        upcoming = (
            []
            if schedule.paused
            else next_times(parse_cron(schedule.cron), parse_timezone(schedule.timezone), now, count=3)
        )
        schedules.append((schedule, upcoming))
    return {
        "webhooks": [
            (
                hook,
                request.build_absolute_uri(reverse("api-webhook-receive", args=[hook.token])),
                list(hook.deliveries.all()[:5]),
            )
            for hook in workflow.webhook_triggers.all()
        ],
        "schedules": schedules,
        "callbacks": [
            (endpoint, list(endpoint.deliveries.all()[:5])) for endpoint in workflow.callback_endpoints.all()
        ],
        "api_base": f"/api/v1/workflows/{workflow.pk}",
    }


# ------------------------------------------------------------------ share links


@login_required
@require_POST
def workflow_share_create(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Create a public link to the workflow's live version (editors)."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    share_link_create(workflow=workflow, user=request.user)
    messages.success(request, "Public link created: anyone with it can run the live version.")
    return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)


@login_required
@require_POST
def workflow_share_revoke(request: HttpRequest, project_slug: str, workflow_slug: str, link_id: int) -> HttpResponse:
    """Revoke a public link (editors): its pages answer 404 from now on."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="change")
    link = get_object_or_404(ShareLink, workflow=workflow, pk=link_id)
    share_link_revoke(link=link, user=request.user)
    messages.success(request, "Public link revoked.")
    return redirect("workflow-detail", project_slug=project.slug, workflow_slug=workflow.slug)


def _share_context(link: ShareLink) -> dict[str, Any]:
    return {"workflow": link.workflow, "link": link}


@csrf_exempt  # public and unauthenticated: no session is used, so there is nothing to forge; rate-limited per IP
@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.STUDIO_SHARE_FRAME_ANCESTORS})
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    """The public page of a share link: the live version's inputs form; a valid POST starts a run and
    goes to its answer. 404 for a revoked or unknown link; 429 past the per-IP rate limit."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    link = share_link_active(token)
    live = deployment_live(workflow=link.workflow) if link is not None else None
    if link is None or live is None:
        raise Http404("This link does not exist or was revoked.")
    form = _input_form(live.version.graph, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                shared = share_run_start(link=link, inputs=form.inputs(), client_ip=request.META.get("REMOTE_ADDR", ""))
            except ShareRateLimitedError as exc:
                form.add_error(None, str(exc))
                status = 429
            except (ShareUnavailableError, RunInputError, GraphInvalidError) as exc:
                errors = exc.errors if isinstance(exc, RunInputError) else {"__all__": str(exc)}
                form.add_service_errors(errors)
            else:
                return redirect("share-answer", token=link.token, run_token=shared.token)
    return render(request, "agents/share_page.html", {**_share_context(link), "form": form}, status=status)


@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.STUDIO_SHARE_FRAME_ANCESTORS})
@require_GET
def share_answer(request: HttpRequest, token: str, run_token: str) -> HttpResponse:
    """The answer to a visitor's run (its status, then its outputs); ``?format=json`` for the page's
    poller. Only runs started through this link with this run token; 404 once the link is revoked."""
    link = share_link_active(token)
    run = shared_run(link, run_token) if link is not None else None
    if link is None or run is None:
        raise Http404("This link does not exist or was revoked.")
    if request.GET.get("format") == "json":
        return JsonResponse({"status": run.status, "finished": run.is_terminal})
    context = {
        **_share_context(link),
        "run": run,
        "outputs": pretty_json(run.outputs) if run.outputs else "",
        "form_url": reverse("share-page", args=[link.token]),
    }
    return render(request, "agents/share_answer.html", context)
