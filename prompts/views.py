"""Prompt registry pages: the list (labels → versions, search, create) and a prompt's page
(versions, label history, commit a version, promote by moving a label).

Viewers read; editors create prompts, commit versions and move labels;
admins and owners move protected labels (the services decide). Every
prompt is fetched with ``access_prompt`` inside the already-accessed project.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from prompts import services as svc
from prompts.diff import messages_diff
from prompts.metrics import prompt_version_metrics, prompt_version_scores
from prompts.models import Prompt
from prompts.selectors import access_prompt, prompt_version_get, prompts_visible
from prompts.usage import prompt_uses
from studio.selectors import access_project, has_project_perm
from studio.workspace.views import page


def _last_change(prompt: Prompt) -> dict[str, Any] | None:
    """The newer of the prompt's latest version commit and latest label move:
    ``{"what": "v3 committed" | "production → v3", "who": username | "system", "when": datetime}``;
    None when it has neither."""
    version = prompt.versions.select_related("created_by").order_by("-created_at", "-id").first()
    move = prompt.label_moves.select_related("moved_by", "to_version").first()
    if move is not None and (version is None or move.moved_at >= version.created_at):
        who = move.moved_by.username if move.moved_by else "system"
        return {"what": f"{move.label} → v{move.to_version.version}", "who": who, "when": move.moved_at}
    if version is not None:
        who = version.created_by.username if version.created_by else "system"
        return {"what": f"v{version.version} committed", "who": who, "when": version.created_at}
    return None


@login_required
@require_http_methods(["GET", "POST"])
def prompt_list(request: HttpRequest, project_slug: str) -> HttpResponse:
    """GET: the prompts (``?q=`` searches name and slug) with what each label points at. POST: create one."""
    project = access_project(
        user=request.user, slug=project_slug, perm="change" if request.method == "POST" else "view"
    )
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            prompt = svc.prompt_create(
                project=project,
                user=request.user,
                name=request.POST.get("name", ""),
                slug=request.POST.get("slug") or None,
                description=request.POST.get("description", ""),
            )
        except svc.PromptError as exc:
            errors = {exc.field or "form": exc.message}
        else:
            messages.success(request, f"Prompt {prompt.name} created. Write its first version.")
            return redirect("prompt-version-new", project_slug=project.slug, prompt_slug=prompt.slug)
    q = request.GET.get("q", "").strip()
    qs = prompts_visible(user=request.user, project=project).prefetch_related("labels__version").order_by("name")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q))
    prompts = list(qs)
    for prompt in prompts:  # published nodes that use it (each workflow's latest published version)
        prompt.use_count = len(prompt_uses(prompt))  # type: ignore[attr-defined]
        prompt.last_change = _last_change(prompt)  # type: ignore[attr-defined]
    context = {
        "project": project,
        "prompts": prompts,
        "q": q,
        "errors": errors,
        "values": request.POST,
        "can_edit": has_project_perm(request.user, project, "change"),
    }
    return page(request, "prompts/prompt_list.html", context, status=400 if errors else 200)


def prompt_detail_page(
    request: HttpRequest, prompt: Prompt, *, status: int = 200, errors: dict[str, str] | None = None
) -> HttpResponse:
    """The prompt's page (also shown again, with ``errors`` and a 4xx ``status``, after a refused form)."""
    versions = list(prompt.versions.select_related("created_by"))
    context = {
        "project": prompt.project,
        "prompt": prompt,
        "versions": versions,
        "labels": prompt.labels.select_related("version").order_by("name"),
        "moves": prompt.label_moves.select_related("from_version", "to_version", "moved_by")[:100],
        "can_edit": has_project_perm(request.user, prompt.project, "change"),
        "can_run": has_project_perm(request.user, prompt.project, "run"),
        "can_move_protected": has_project_perm(request.user, prompt.project, "manage"),
        "protected": sorted(svc.protected_labels(prompt)),
        "errors": errors or {},
        "protected_text": ", ".join(sorted(svc.protected_labels(prompt))),
    }
    return page(request, "prompts/prompt_detail.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def prompt_detail(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Versions (messages, variables, commit message, author), labels and their history."""
    project = access_project(user=request.user, slug=project_slug)
    return prompt_detail_page(request, access_prompt(user=request.user, project=project, slug=prompt_slug))


@login_required
@require_http_methods(["GET"])
def prompt_diff(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Word-level diff of version ``?a=`` (old) and ``?b=`` (new); defaults: the two latest versions."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug)
    numbers = list(prompt.versions.values_list("version", flat=True))  # newest first
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    old_n = int(a) if a.isdigit() else (numbers[1] if len(numbers) > 1 else None)
    new_n = int(b) if b.isdigit() else (numbers[0] if numbers else None)
    old = prompt.versions.filter(version=old_n).first()
    new = prompt.versions.filter(version=new_n).first()
    if old is None or new is None:
        raise Http404("No such version.")
    context = {
        "project": project,
        "prompt": prompt,
        "old": old,
        "new": new,
        "numbers": numbers,
        "diff": messages_diff(old.messages, new.messages),
        "variables_removed": [v for v in old.variables if v not in new.variables],
        "variables_added": [v for v in new.variables if v not in old.variables],
    }
    return page(request, "prompts/prompt_diff.html", context)


@login_required
@require_POST
def prompt_label_move(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Move (or create) a label: ``label``, ``version`` and ``expected_version`` (what the page showed)."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug, perm="change")
    label = request.POST.get("label", "").strip()
    number, expected = request.POST.get("version", ""), request.POST.get("expected_version", "")
    target = prompt.versions.filter(version=int(number)).first() if number.isdigit() else None
    if target is None:
        return prompt_detail_page(request, prompt, status=400, errors={"label": f"No version {number or '(none)'}."})
    try:
        svc.prompt_label_move(
            prompt=prompt,
            label=label,
            version=target,
            user=request.user,
            expected_version=int(expected) if expected.isdigit() else None,
        )
    except svc.PromptError as exc:
        return prompt_detail_page(request, prompt, status=exc.status_code, errors={"label": exc.message})
    except PermissionDenied as exc:
        return prompt_detail_page(request, prompt, status=403, errors={"label": str(exc)})
    messages.success(request, f'Label "{label}" now points at version {target.version}.')
    return redirect("prompt-detail", project_slug=project.slug, prompt_slug=prompt.slug)


@login_required
@require_http_methods(["GET"])
def prompt_usage(request: HttpRequest, project_slug: str, prompt_slug: str) -> HttpResponse:
    """Which published workflow nodes use the prompt (by label or pinned version, with the version
    each gets now) and, per version, calls, tokens, cost, latency p50/p95 and error rate from the spans,
    and the scores (count, mean, pass rate per score name) of the spans, steps and runs that used it."""
    project = access_project(user=request.user, slug=project_slug)
    prompt = access_prompt(user=request.user, project=project, slug=prompt_slug)
    labels = dict(prompt.labels.values_list("name", "version__version"))
    uses = [
        {"use": use, "resolves_to": use.version if use.version is not None else labels.get(use.label or "")}
        for use in sorted(prompt_uses(prompt), key=lambda u: (u.workflow_name, u.node_label))
    ]
    scores = prompt_version_scores(prompt)
    score_rows = [
        {"version": number, "score": score, "first": index == 0, "span": len(scores[number])}
        for number in sorted(scores, reverse=True)
        for index, score in enumerate(scores[number])
    ]
    context = {
        "project": project,
        "prompt": prompt,
        "uses": uses,
        "metrics": prompt_version_metrics(prompt),
        "score_rows": score_rows,
    }
    return page(request, "prompts/prompt_usage.html", context)


@login_required
@require_http_methods(["GET"])
def prompt_preview(request: HttpRequest, project_slug: str) -> HttpResponse:
    """The canvas inspector's preview of the prompt an ``llm`` node chose (HTML fragment):
    ``?cfg-prompt-slug=<slug>&cfg-prompt-pointer=<label or version number>`` (no pointer:
    ``production``, as a run resolves it). Shows the version the pointer gives now, its messages
    and typed variables, with a link to its page; an unknown prompt, label or version is said
    plainly (never a fallback). Read-only; viewers may look."""
    project = access_project(user=request.user, slug=project_slug)
    slug = request.GET.get("cfg-prompt-slug", "").strip()
    pointer = request.GET.get("cfg-prompt-pointer", "").strip() or "production"
    context: dict[str, object] = {"project": project, "slug": slug, "pointer": pointer}
    if slug:
        prompt = prompts_visible(user=request.user, project=project).filter(slug=slug).first()
        context["prompt"] = prompt
        if prompt is not None:
            try:
                context["version"] = prompt_version_get(
                    prompt=prompt,
                    version=int(pointer) if pointer.isdigit() else None,
                    label=None if pointer.isdigit() else pointer,
                )
            except LookupError as exc:
                context["missing"] = str(exc)
    return render(request, "prompts/partials/prompt-preview.html", context)
