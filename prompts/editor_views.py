"""Prompt pages for writing and promoting: the new-version editor, a version's page, the
promote confirmation (with the diff), live variable detection and per-prompt protected labels.

The editor posts plain form fields, so it works without JavaScript: ``role`` and
``content`` once per message (in order), ``var_name``/``var_type``/
``var_description``/``var_choices``/``var_items`` once per variable,
``model_config`` (a JSON object) and ``commit_message``. ``static/js/prompt-editor.js``
adds CodeMirror's Jinja2 highlighting, add/remove/reorder of messages and
live variable detection (:func:`prompt_variables_detect`). Every write goes
through :mod:`prompts.services`; nothing is stored when it refuses.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from prompts import services as svc
from prompts.diff import messages_diff
from prompts.models import Prompt, PromptVersion
from prompts.selectors import access_prompt
from prompts.views import prompt_detail_page
from studio.selectors import access_project, has_project_perm
from studio.workspace.views import page

#: Types offered for a variable (the engine's signature field types).
VARIABLE_TYPES = ("str", "int", "float", "bool", "list", "object", "enum")
#: Most messages and variables an editor form may carry.
MAX_ROWS = 100


def _editor_values(version: PromptVersion | None) -> dict[str, Any]:
    """What the editor starts from: ``version``'s content, or an empty system and user message."""
    if version is None:
        return {
            "messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
            "variables": [],
            "model_config": "{}",
            "commit_message": "",
        }
    return {
        "messages": version.messages,
        "variables": version.variable_fields(),
        "model_config": json.dumps(version.model_config, indent=2),
        "commit_message": "",
    }


def _posted_values(post: Any) -> dict[str, Any]:
    """The editor's form fields as the values it shows again (nothing checked yet)."""
    roles, contents = post.getlist("role")[:MAX_ROWS], post.getlist("content")[:MAX_ROWS]
    names = post.getlist("var_name")[:MAX_ROWS]
    types, descriptions = post.getlist("var_type"), post.getlist("var_description")
    choices, items = post.getlist("var_choices"), post.getlist("var_items")

    def at(values: list[str], index: int) -> str:
        return values[index] if index < len(values) else ""

    variables = []
    for index, name in enumerate(names):
        if not name.strip():
            continue
        field: dict[str, Any] = {
            "name": name.strip(),
            "type": at(types, index) or "str",
            "description": at(descriptions, index)[:500],
        }
        if field["type"] == "enum":
            field["choices"] = [c.strip() for c in at(choices, index).split(",") if c.strip()]
        if field["type"] == "list" and at(items, index):
            field["items"] = at(items, index)
        variables.append(field)
    return {
        "messages": [{"role": r, "content": c} for r, c in zip(roles, contents, strict=False)],
        "variables": variables,
        "model_config": post.get("model_config", "").strip() or "{}",
        "commit_message": post.get("commit_message", "")[:500],
    }


def _editor(
    request: HttpRequest, prompt: Prompt, values: dict[str, Any], *, status: int = 200, error: Any = None
) -> HttpResponse:
    base = prompt.versions.order_by("-version").first()
    field = getattr(error, "field", None) or ""
    rows = [
        {**m, "error": error.message if field.startswith(f"messages[{i}]") else ""}
        for i, m in enumerate(values["messages"])
    ]
    variable_rows = [
        {"items": "", "choices": [], **v, "error": error.message if field == f"variables[{i}]" else ""}
        for i, v in enumerate(values["variables"])
    ]
    shown_at_a_row = any(r["error"] for r in rows) or any(r["error"] for r in variable_rows)
    context = {
        "rows": rows,
        "variable_rows": variable_rows,
        "field_error": {} if shown_at_a_row or error is None else {field.split("[")[0] or "form": error.message},
        "project": prompt.project,
        "prompt": prompt,
        "base": base,
        "next_version": (base.version if base else 0) + 1,
        "values": values,
        "error": error,
        "roles": svc.MESSAGE_ROLES,
        "types": VARIABLE_TYPES,
        "item_types": ("str", "int", "float", "bool", "object"),
    }
    return page(request, "prompts/prompt_editor.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def prompt_version_new(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """GET: the editor, filled with the latest version (``?from=<n>``: that version).
    POST: commit the next version; a refusal shows the editor again with the error at its field."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug, perm="change")
    if request.method == "GET":
        number = request.GET.get("from", "")
        source = prompt.versions.filter(version=int(number)).first() if number.isdigit() else None
        return _editor(request, prompt, _editor_values(source or prompt.versions.order_by("-version").first()))
    values = _posted_values(request.POST)
    try:
        model_config = json.loads(values["model_config"])
    except ValueError as exc:
        error = svc.PromptError(f"Model config is not JSON: {exc}.", code="invalid_model_config", field="model_config")
        return _editor(request, prompt, values, status=400, error=error)
    try:
        version = svc.prompt_version_commit(
            prompt=prompt,
            user=request.user,
            messages=values["messages"],
            variables=values["variables"],
            model_config=model_config,
            commit_message=values["commit_message"],
        )
    except svc.PromptError as exc:
        return _editor(request, prompt, values, status=400, error=exc)
    messages.success(request, f"Committed version {version.version}.")
    return redirect("prompt-version", project_slug=project.slug, prompt_slug=prompt.slug, number=version.version)


@login_required
@require_POST
def prompt_variables_detect(request: HttpRequest, project_slug: str, prompt_slug: str) -> JsonResponse:
    """The variables the posted ``content`` templates read, in order of first use, and the parse
    error of each template that does not parse: ``{"variables": [name], "errors": {index: message}}``.
    Changes nothing (the editor calls it as you type)."""
    project = access_project(user=request.user, slug=project_slug)
    access_prompt(user=request.user, project=project, slug=prompt_slug, perm="change")
    ordered, errors = svc.detect_variables(request.POST.getlist("content")[:MAX_ROWS])
    return JsonResponse({"variables": ordered, "errors": errors})


@login_required
@require_http_methods(["GET"])
def prompt_version(request: HttpRequest, project_slug: str, prompt_slug: str, number: int) -> HttpResponse:
    """One version: messages with roles, typed variables, model config, commit message, author, date,
    the labels on it, and links to its diff with the previous version, the editor and the playground."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug)
    version = prompt.versions.select_related("created_by").filter(version=number).first()
    if version is None:
        raise Http404("No such version.")
    context = {
        "project": project,
        "prompt": prompt,
        "version": version,
        "labels": prompt.labels.filter(version=version).order_by("name"),
        "previous": prompt.versions.filter(version__lt=number).order_by("-version").first(),
        "can_edit": has_project_perm(request.user, project, "change"),
        "can_run": has_project_perm(request.user, project, "run"),
    }
    return page(request, "prompts/prompt_version.html", context)


@login_required
@require_http_methods(["GET"])
def prompt_promote(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Confirm moving label ``?label=`` to version ``?version=``: the diff from the version the label
    is on now to the new one, and a form that carries the version shown (a stale move is a 409).
    A protected label asks for admin or owner here too (403)."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug, perm="change")
    label = request.GET.get("label", "")
    number = request.GET.get("version", "")
    try:
        svc.check_label_name(label)
    except svc.PromptError as exc:
        raise Http404(exc.message) from None
    target = prompt.versions.filter(version=int(number)).first() if number.isdigit() else None
    if target is None:
        raise Http404("No such version.")
    if label in svc.protected_labels(prompt) and not has_project_perm(request.user, project, "manage"):
        raise PermissionDenied(f'Only admins and owners may move the protected label "{label}".')
    pointer = prompt.labels.select_related("version").filter(name=label).first()
    current = pointer.version if pointer else None
    affected: list[dict[str, Any]] = []
    try:
        svc.check_label_move_contract(prompt=prompt, label=label, version=target)
    except svc.PromptContractError as exc:  # shown before the click: the move would be refused
        affected = exc.affected
    context = {
        "affected": affected,
        "project": project,
        "prompt": prompt,
        "label": label,
        "target": target,
        "current": current,
        "protected": label in svc.protected_labels(prompt),
        "diff": messages_diff(current.messages if current else [], target.messages),
        "variables_removed": [v for v in (current.variables if current else []) if v not in target.variables],
        "variables_added": [v for v in target.variables if v not in (current.variables if current else [])],
    }
    return page(request, "prompts/prompt_promote.html", context)


@login_required
@require_POST
def prompt_protected_labels(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Set the prompt's protected labels from ``labels`` (comma separated). Admins and owners."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug, perm="manage")
    names = [n.strip() for n in request.POST.get("labels", "").split(",") if n.strip()]
    try:
        stored = svc.prompt_protected_labels_set(prompt=prompt, user=request.user, labels=names)
    except svc.PromptError as exc:
        return prompt_detail_page(request, prompt, status=400, errors={"protected": exc.message})
    messages.success(request, f"Protected labels: {', '.join(stored) or 'none'}.")
    return redirect("prompt-detail", project_slug=project.slug, prompt_slug=prompt.slug)
