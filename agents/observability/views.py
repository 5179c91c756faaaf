"""Pages of the trace explorer and of a run's trace (HTMX panels, keyboard usable).

``/p/<project>/traces/`` lists runs with filters and a keyset cursor; an htmx
request that is not boosted gets the table rows only (the "Load more" button
and the filter form swap them). ``/p/<project>/traces/<run>/`` shows the tree
run → steps → spans and a detail panel loaded beside it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.fragments import RunView, StepView, format_duration, format_tokens, format_usd, pretty_json
from agents.models import SavedFilter
from agents.observability import selectors as sel
from agents.observability.filters import Cursor, ExplorerFilterForm
from agents.selectors import can_run
from agents.views.pages import _is_fragment, _page
from studio.selectors import access_project
from studio.services import audit_record

FILTER_KEYS = tuple(ExplorerFilterForm.base_fields)


def _filter_query(data: QueryDict) -> str:
    """The filter part of a query string (no cursor), empty values dropped, in a stable order."""
    return urlencode([(k, data[k]) for k in FILTER_KEYS if data.get(k, "").strip()])


@login_required
@require_GET
def trace_explorer(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Runs of the project with filters and cursor pagination; rows only for an htmx swap."""
    project = access_project(user=request.user, slug=project_slug)
    form = ExplorerFilterForm(request.GET)
    cursor, cursor_error = None, ""
    if request.GET.get("cursor"):
        try:
            cursor = Cursor.decode(request.GET["cursor"])
        except ValueError as exc:
            cursor_error = str(exc)
    external = request.GET.get("source") == "external"
    if not form.is_valid() or cursor_error:
        page, status = sel.ExplorerPage(runs=[], next_cursor=""), 400
    elif external:
        page, status = sel.explorer_external_page(project=project, filters=form.filters(), cursor=cursor), 200
    else:
        page, status = sel.explorer_page(user=request.user, project=project, filters=form.filters(), cursor=cursor), 200
    query = _filter_query(request.GET)
    context = {
        "project": project,
        "form": form,
        "cursor_error": cursor_error,
        "query": query,
        "external": external,
        "rows": page.runs if external else [RunView.from_run(run) for run in page.runs],
        "next_cursor": page.next_cursor,
        "first_page": cursor is None,
        "filter_count": len([k for k in FILTER_KEYS if request.GET.get(k)]),
    }
    if _is_fragment(request) and cursor is not None:
        context["rows_only"] = True
        return render(request, "agents/observability/partials/trace-rows.html", context, status=status)
    context.update(
        choices=sel.explorer_choices(user=request.user, project=project),
        saved=sel.saved_filters(user=request.user, project=project),
        has_sessions=sel.run_has_field("session_id"),
    )
    if _is_fragment(request):
        return render(request, "agents/observability/partials/trace-results.html", context, status=status)
    return _page(request, "agents/observability/trace_explorer.html", context, status=status)


@login_required
@require_POST
def saved_filter_create(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Save the current filters under a name (the user's own; the same name replaces them)."""
    project = access_project(user=request.user, slug=project_slug)
    name = request.POST.get("name", "").strip()
    query = _filter_query(request.POST)
    url = reverse("trace-explorer", args=[project.slug])
    form = ExplorerFilterForm(request.POST)
    if not name or len(name) > 80 or not query or not form.is_valid():
        messages.error(request, "Give the filter a name (up to 80 characters) and set at least one valid filter.")
        return redirect(f"{url}?{query}" if query else url)
    try:
        with transaction.atomic():
            saved, created = SavedFilter.objects.update_or_create(
                project=project, user=request.user, name=name, defaults={"query": query}
            )
            audit_record(
                project=project,
                actor=request.user,
                verb="saved_filter.save",
                obj=saved,
                data={"name": name, "created": created},
            )
    except IntegrityError:  # two saves of the same name at once: the other one won
        pass
    messages.success(request, f"Filter “{name}” saved.")
    return redirect(f"{url}?{query}")


@login_required
@require_POST
def saved_filter_delete(request: HttpRequest, project_slug: str, filter_id: int) -> HttpResponse:
    """Delete one of the user's own saved filters."""
    project = access_project(user=request.user, slug=project_slug)
    saved = sel.access_saved_filter(user=request.user, project=project, pk=filter_id)
    with transaction.atomic():
        audit_record(
            project=project, actor=request.user, verb="saved_filter.delete", obj=saved, data={"name": saved.name}
        )
        saved.delete()
    messages.info(request, f"Filter “{saved.name}” deleted.")
    return redirect("trace-explorer", project_slug=project.slug)


@login_required
@require_GET
def trace_detail(request: HttpRequest, project_slug: str, run_id: int) -> HttpResponse:
    """A run's trace: the tree run → steps → spans on the run's timeline, and a detail panel."""
    project = access_project(user=request.user, slug=project_slug)
    run = sel.access_trace_run(user=request.user, project=project, run_id=run_id)
    tree = sel.trace_tree(run=run)
    context = {
        "project": project,
        "workflow": run.workflow,
        "run": RunView.from_run(run),
        "tree": tree,
        "can_run": can_run(user=request.user, workflow=run.workflow) and run.workflow.deleted_at is None,
        "inputs": pretty_json(run.inputs) if run.inputs else None,
        "outputs": pretty_json(run.outputs) if run.outputs else None,
    }
    return _page(request, "agents/observability/trace_detail.html", context)


def _prompt_version_link(project: Any, prompt_version_id: int | None) -> tuple[str, str]:
    """(label, url) of the prompt version a span used, or ("", "") — only within the run's project."""
    if not prompt_version_id:
        return "", ""
    from prompts.models import PromptVersion

    version = (
        PromptVersion.objects.select_related("prompt").filter(pk=prompt_version_id, prompt__project=project).first()
    )
    if version is None:
        return "", ""
    url = reverse("prompt-detail", args=[project.slug, version.prompt.slug]) + f"#version-{version.version}"
    return f"{version.prompt.name} v{version.version}", url


def _messages(span_input: Any) -> list[dict[str, str]]:
    """Chat messages of a span's request as ``[{"role", "content"}]`` (content made text)."""
    found = span_input.get("messages") if isinstance(span_input, dict) else None
    if not isinstance(found, list):
        return []
    shown = []
    for message in found:
        if not isinstance(message, dict):
            continue
        content = message.get("content", "")
        if not isinstance(content, str):
            content = json.dumps(content, indent=2, ensure_ascii=False)
        shown.append({"role": str(message.get("role", "?")), "content": content})
    return shown


def _span_context(project: Any, span: Any) -> dict[str, Any]:
    """What the span panel shows of any span: conversation, answer, JSON, token parts, cost, prompt version."""
    prompt_label, prompt_url = _prompt_version_link(project, span.prompt_version_id)
    output = span.output if isinstance(span.output, dict) else {}
    return {
        "project": project,
        "span": span,
        "messages_shown": _messages(span.input),
        "answer": output.get("text", ""),
        "parsed": pretty_json(output["parsed"]) if output.get("parsed") is not None else None,
        "request_json": pretty_json(span.input),
        "output_json": pretty_json(span.output),
        "token_parts": [(label, format_tokens(n)) for label, n in sel.span_token_parts(span)],
        "estimated": sel.span_tokens_estimated(span),
        "cost": format_usd(span.cost_usd),
        "latency": format_duration(span.latency_ms),
        "prompt_label": prompt_label,
        "prompt_url": prompt_url,
    }


@login_required
@require_GET
def trace_span(request: HttpRequest, project_slug: str, run_id: int, span_id: int) -> HttpResponse:
    """One model call: the conversation, the answer, token parts, cost and its price source, the prompt version."""
    project = access_project(user=request.user, slug=project_slug)
    run = sel.access_trace_run(user=request.user, project=project, run_id=run_id)
    span = sel.access_span(run=run, span_id=span_id)
    step = run.steps.filter(pk=span.step_id).first() if span.step_id else None
    context = {
        **_span_context(project, span),
        "run": run,
        "step": step,
        "can_rerun": step is not None
        and can_run(user=request.user, workflow=run.workflow)
        and run.workflow.deleted_at is None
        and run.is_terminal,
    }
    return _panel(request, "agents/observability/partials/span-panel.html", context)


@login_required
@require_GET
def trace_step(request: HttpRequest, project_slug: str, run_id: int, step_id: int) -> HttpResponse:
    """One step: inputs, outputs, tokens, cost, its model calls, and "rerun from this step"."""
    project = access_project(user=request.user, slug=project_slug)
    run = sel.access_trace_run(user=request.user, project=project, run_id=run_id)
    step = sel.access_step(run=run, step_id=step_id)
    context = {
        "project": project,
        "run": run,
        "step": StepView.from_step(step),
        "step_obj": step,
        "spans": sel.spans_of_step(step=step),
        "can_rerun": can_run(user=request.user, workflow=run.workflow)
        and run.workflow.deleted_at is None
        and run.is_terminal,
    }
    return _panel(request, "agents/observability/partials/step-panel.html", context)


def _panel(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    if _is_fragment(request):
        return render(request, template, context)
    return _page(request, "agents/observability/trace_panel_page.html", {**context, "panel_template": template})


@login_required
@require_GET
def external_trace_detail(request: HttpRequest, project_slug: str, trace_id: int) -> HttpResponse:
    """An external trace (OTLP ingest): its spans as a tree on the trace's timeline, and a detail panel."""
    project = access_project(user=request.user, slug=project_slug)
    trace = sel.access_external_trace(project=project, trace_id=trace_id)
    context = {"project": project, "trace": trace, "tree": sel.external_trace_tree(trace=trace)}
    return _page(request, "agents/observability/external_trace_detail.html", context)


@login_required
@require_GET
def external_trace_span(request: HttpRequest, project_slug: str, trace_id: int, span_id: int) -> HttpResponse:
    """One span of an external trace: the same panel as a run's model call, without rerun."""
    project = access_project(user=request.user, slug=project_slug)
    trace = sel.access_external_trace(project=project, trace_id=trace_id)
    span = sel.access_external_span(trace=trace, span_id=span_id)
    context = {**_span_context(project, span), "run": None, "step": None, "can_rerun": False, "trace": trace}
    return _panel(request, "agents/observability/partials/span-panel.html", context)


@login_required
@require_POST
def trace_rerun(request: HttpRequest, project_slug: str, run_id: int, step_id: int) -> HttpResponse:
    """Rerun from this step's node (``run_rerun_from``: upstream steps reused, no call made for them);
    to the new run's page."""
    from agents.selectors import access_run
    from agents.services.budgets import ProjectBudgetExceededError
    from agents.services.runs import GraphInvalidError, RunInputError, run_rerun_from

    project = access_project(user=request.user, slug=project_slug)
    run = sel.access_trace_run(user=request.user, project=project, run_id=run_id)
    run = access_run(user=request.user, pk=run.pk, perm="run")
    step = sel.access_step(run=run, step_id=step_id)
    try:
        new_run = run_rerun_from(run=run, node_id=step.node_id, user=request.user)
    except (ValueError, RunInputError, GraphInvalidError, ProjectBudgetExceededError) as exc:
        messages.error(request, f"Could not rerun from {step.node_id}: {exc}")
        return redirect("trace-detail", project_slug=project.slug, run_id=run.pk)
    messages.success(request, f"Run #{new_run.pk} started from {step.node_id}; steps before it are reused.")
    return redirect("run-detail", run_id=new_run.pk)
