"""Model endpoint pages: list, add from a provider preset, edit, delete, Test connection.

Admins and owners (``manage``); endpoints fetched with ``access_endpoint``
inside the already-accessed project. Test connection answers an htmx request
with the ``endpoint-test`` fragment.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.models import Project
from studio.selectors import access_project
from studio.workspace.selectors import project_secrets
from studio.workspace.views import page
from traces.endpoints import services as svc
from traces.endpoints.presets import PRESETS, PRESETS_BY_KEY
from traces.endpoints.selectors import project_endpoints
from traces.models import ModelEndpoint, StructuredOutput
from traces.selectors import access_endpoint


@login_required
@require_GET
def project_endpoints_page(request: HttpRequest, project_slug: str) -> HttpResponse:
    """The project's endpoints with model, API base, prices and limits."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    rows = [(endpoint, svc.price_mode_of(endpoint)) for endpoint in project_endpoints(project=project)]
    return page(
        request,
        "traces/settings_endpoints.html",
        {"project": project, "tab": "project-endpoints", "endpoints": rows, "presets": PRESETS},
    )


def _form_page(
    request: HttpRequest,
    project: Project,
    values: dict[str, Any],
    *,
    endpoint: ModelEndpoint | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> HttpResponse:
    context = {
        "project": project,
        "tab": "project-endpoints",
        "endpoint": endpoint,
        "values": values,
        "errors": errors or {},
        "presets": PRESETS,
        "secrets": project_secrets(project=project),
        "structured_choices": StructuredOutput.choices,
        "preset": PRESETS_BY_KEY.get(str(values.get("preset", ""))),
    }
    return page(request, "traces/endpoint_form.html", context, status=status)


def _posted(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {key: request.POST.get(key, "") for key in svc.FIELDS}
    values["is_active"] = "on" if request.POST.get("is_active") else ""
    return values


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_new(request: HttpRequest, project_slug: str) -> HttpResponse:
    """GET ``?preset=openai`` fills the form from a provider preset; POST creates the endpoint."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "POST":
        values = _posted(request)
        try:
            endpoint = svc.endpoint_create(project=project, actor=request.user, data=values)
        except svc.EndpointError as exc:
            return _form_page(
                request, project, values, endpoint=None, status=400, errors={exc.field or "form": exc.message}
            )
        messages.success(request, f"Endpoint {endpoint.name} added. Try Test connection.")
        return redirect("project-endpoints", project_slug=project.slug)
    preset = PRESETS_BY_KEY.get(request.GET.get("preset", ""), PRESETS[0])
    values = {
        "preset": preset.key,
        "name": preset.label,
        "slug": "",
        "model": preset.model,
        "api_base": preset.api_base,
        "structured_output": preset.structured_output,
        "price_mode": "litellm",
        "context_window": preset.context_window,
        "timeout_s": 120,
        "is_active": "on",
    }
    return _form_page(request, project, values, endpoint=None)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request: HttpRequest, project_slug: str, endpoint_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    endpoint = access_endpoint(user=request.user, project=project, pk=endpoint_id, perm="manage")
    if request.method == "POST":
        values = _posted(request)
        try:
            svc.endpoint_update(endpoint=endpoint, actor=request.user, data=values)
        except svc.EndpointError as exc:
            return _form_page(
                request, project, values, endpoint=endpoint, status=400, errors={exc.field or "form": exc.message}
            )
        messages.success(request, f"Endpoint {values['name']} saved.")
        return redirect("project-endpoints", project_slug=project.slug)
    values = {key: getattr(endpoint, key, "") for key in svc.FIELDS if key not in ("api_key_secret", "price_mode")}
    values.update(
        api_key_secret=endpoint.api_key_secret_id or "",
        price_mode=svc.price_mode_of(endpoint),
        is_active="on" if endpoint.is_active else "",
    )
    return _form_page(request, project, values, endpoint=endpoint)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, project_slug: str, endpoint_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    endpoint = access_endpoint(user=request.user, project=project, pk=endpoint_id, perm="manage")
    svc.endpoint_delete(endpoint=endpoint, actor=request.user)
    messages.success(request, f"Endpoint {endpoint.name} deleted.")
    return redirect("project-endpoints", project_slug=project.slug)


@login_required
@require_POST
def endpoint_test(request: HttpRequest, project_slug: str, endpoint_id: int) -> HttpResponse:
    """One tiny real call; the answer, latency, tokens and cost, or the provider's error."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    endpoint = access_endpoint(user=request.user, project=project, pk=endpoint_id, perm="manage")
    result = svc.endpoint_test(endpoint=endpoint, actor=request.user)
    return render(request, "traces/partials/endpoint-test.html", {"endpoint": endpoint, "result": result})
