"""The playground page (``/p/<project>/prompts/<slug>/playground/``): run a version on an endpoint,
or two (versions or endpoints) side by side on the same variable values.

Form fields: ``a_version``, ``a_endpoint`` and, with ``compare`` on,
``b_version``, ``b_endpoint``; one ``var.<name>`` per variable of the chosen
versions (typed per :func:`prompts.playground.coerce_form_value`). Runners and
above (a call costs money: the ``run`` permission); the calls go through
:func:`prompts.playground.playground_run`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from prompts import services as svc
from prompts.models import Prompt, PromptVersion
from prompts.playground import PlaygroundResult, coerce_form_value, playground_run
from prompts.selectors import access_prompt
from studio.selectors import access_project
from studio.workspace.views import page
from traces.endpoints.selectors import project_endpoints
from traces.models import ModelEndpoint


def _pick(prompt: Prompt, endpoints: list[ModelEndpoint], data: Any, slot: str) -> tuple[Any, Any]:
    number = str(data.get(f"{slot}_version", ""))
    version = prompt.versions.filter(version=int(number)).first() if number.isdigit() else None
    slug = data.get(f"{slot}_endpoint", "")
    endpoint = next((e for e in endpoints if e.slug == slug), None)
    return version, endpoint


@login_required
@require_http_methods(["GET", "POST"])
def prompt_playground(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """GET: the form (``?a_version=`` preselects; the latest version and the first active endpoint
    otherwise). POST: run slot A, and slot B when ``compare`` is on; show each output, tokens,
    cost (unknown stays unknown) and latency, or the error at its slot."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug, perm="run")
    versions = list(prompt.versions.order_by("-version"))
    endpoints = [e for e in project_endpoints(project=project) if e.is_active]
    data = request.POST if request.method == "POST" else request.GET
    compare = data.get("compare") == "on"
    slots: dict[str, tuple[PromptVersion | None, ModelEndpoint | None]] = {}
    for slot in ("a", "b") if compare else ("a",):
        version, endpoint = _pick(prompt, endpoints, data, slot)
        slots[slot] = (
            version or (versions[0] if versions else None),
            endpoint or (endpoints[0] if endpoints else None),
        )
    fields: dict[str, dict[str, Any]] = {}
    for version, _ in slots.values():
        for f in version.variable_labels() if version else []:
            fields.setdefault(f["name"], f)
    raw_types = {f["name"]: f["type"] for v, _ in slots.values() if v for f in v.variable_fields()}
    values = {name: data.get(f"var.{name}", "") for name in fields}
    results: dict[str, PlaygroundResult | None] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        for slot, (version, endpoint) in slots.items():
            if version is None or endpoint is None:
                errors[slot] = "Choose a version and an endpoint."
                continue
            variables = {n: coerce_form_value(values.get(n, ""), raw_types.get(n, "str")) for n in version.variables}
            try:
                results[slot] = playground_run(
                    version=version, endpoint=endpoint, variables=variables, user=request.user
                )
            except svc.PromptError as exc:
                errors[slot] = exc.message
    context = {
        "project": project,
        "prompt": prompt,
        "versions": versions,
        "endpoints": endpoints,
        "compare": compare,
        "slots": [
            {"key": key, "version": v, "endpoint": e, "result": results.get(key), "error": errors.get(key, "")}
            for key, (v, e) in slots.items()
        ],
        "fields": [{**f, "value": values[name]} for name, f in fields.items()],
    }
    return page(request, "prompts/prompt_playground.html", context, status=400 if errors else 200)
