"""Starting, cancelling and re-running runs.

The caller has already checked access (``agents.selectors.access_workflow``
with ``perm="run"``). Every service here is atomic; the run is dispatched to
a worker only after the transaction commits (a job is never enqueued before
its row exists).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.dispatch import run_dispatch
from agents.effects.subworkflows import check_subworkflow_cycles
from agents.effects.transport import egress_allowed_hosts
from agents.engine import GraphIssue, InputValidationError, check_inputs, validate_graph
from agents.events import event_append
from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from agents.services.budgets import budget_check_start
from agents.services.variables import variable_graph_issues
from studio.lib.jsonsafe import json_problem
from studio.selectors import api_key_of
from studio.services import audit_record

log = logging.getLogger(__name__)


class RunInputError(Exception):
    """The inputs do not match the workflow's input signature. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()) or "Invalid inputs.")
        self.errors = errors


class GraphInvalidError(Exception):
    """The graph cannot run. ``issues`` are the engine's GraphIssue items, each naming its node."""

    def __init__(self, issues: list[GraphIssue]):
        super().__init__("; ".join(issue.message for issue in issues))
        self.issues = issues


class SecretUseForbiddenError(GraphInvalidError):
    """The run would use a secret that neither its starter nor the version's publisher may use."""


def _check_secret_use(*, workflow: Workflow, graph: dict[str, Any], user: Any, version: WorkflowVersion | None) -> None:
    """Raise :class:`GraphInvalidError` (:class:`SecretUseForbiddenError` when only permissions are
    missing) naming each node and secret the run could not use (see ``agents.services.secrets``)."""
    from agents.services.secrets import FORBIDDEN, secret_run_issues

    found = secret_run_issues(project=workflow.project, graph=graph, starter=user, version=version)
    if not found:
        return
    issues = [GraphIssue(code=issue.code, message=issue.message, node_id=issue.node_id) for issue in found]
    if all(issue.code == FORBIDDEN for issue in issues):
        raise SecretUseForbiddenError(issues)
    raise GraphInvalidError(issues)


class RunStateError(Exception):
    """The run is not in a state that allows the operation (e.g. cancelling a finished run)."""


def _first_set(*values: Any) -> Any:
    """The first value that is not None (None when all are)."""
    return next((value for value in values if value is not None), None)


def run_start(
    *, workflow: Workflow, user: Any, inputs: dict[str, Any], version: WorkflowVersion | None = None,
    budget_tokens: int | None = None, budget_usd: Decimal | None = None, max_concurrency: int | None = None,
    parent_run: Run | None = None, rerun_from_node: str = "", timeout_s: int | None = None,
    session_id: str = "", replay: str = "",
) -> Run:
    """Create a queued run of ``version`` (the draft when None) and dispatch it on commit.

    ``session_id`` (at most 200 characters, else ``RunInputError``) groups
    the runs of one chat-style session in the trace explorer. ``replay``: a
    :class:`traces.models.ReplayMode` value (suite case runs set it; it travels
    with the run row to the worker and into every model call's span context).

    Budgets default to the workflow's, then the project's defaults (tokens:
    input + output; USD); so does ``timeout_s``, the run's wall-clock limit in
    seconds (last fallback: ``STUDIO_RUN_TIMEOUT_S``).
    Raises :class:`ProjectBudgetExceededError` (the project's monthly budget is spent and its hard
    stop is on), :class:`GraphInvalidError` (graph fails validation, reads a
    project variable that does not exist, or names a secret that is missing
    or used outside an http header),
    :class:`SecretUseForbiddenError` (a secret neither ``user`` nor the
    version's publisher may use) or :class:`RunInputError` (inputs do not fit
    the input signature); nothing is written then.
    """
    budget_check_start(workflow.project)
    graph = version.graph if version is not None else workflow.draft_graph
    issues = validate_graph(graph, allowed_hosts=egress_allowed_hosts(workflow.project_id))
    if not issues:
        issues = [
            GraphIssue(code=issue.code, message=issue.message, node_id=issue.node_id)
            for issue in variable_graph_issues(project_id=workflow.project_id, graph=graph)
        ]
    if not issues:
        issues = [
            GraphIssue(code="subworkflow", message=message)
            for message in check_subworkflow_cycles(workflow.project, graph, slug=workflow.slug)
        ]
    if issues:
        raise GraphInvalidError(issues)
    _check_secret_use(workflow=workflow, graph=graph, user=user, version=version)
    if not isinstance(inputs, dict):
        raise RunInputError({"__all__": "Inputs must be a JSON object."})
    if not isinstance(session_id, str) or len(session_id) > 200:
        raise RunInputError({"session_id": "A session id is a string of at most 200 characters."})
    try:
        clean_inputs = check_inputs(graph, inputs)
    except InputValidationError as exc:
        raise RunInputError(
            {(name or "__all__"): "; ".join(problems) for name, problems in exc.field_errors.items()}
        ) from exc
    bad_value = json_problem(clean_inputs)  # lone surrogates, NaN, overflow: never stored (a page could not show it)
    if bad_value is not None:
        raise RunInputError({bad_value.path.split(".")[0].split("[")[0] or "__all__": bad_value.message})
    with transaction.atomic():
        run = Run.objects.create(
            project=workflow.project, workflow=workflow, version=version, graph=graph, inputs=clean_inputs,
            status=RunStatus.QUEUED, created_by=user if getattr(user, "pk", None) else None,
            api_key=api_key_of(user),
            max_concurrency=max_concurrency or workflow.max_concurrency,
            budget_tokens=_first_set(budget_tokens, workflow.budget_tokens, workflow.project.default_budget_tokens),
            budget_usd=_first_set(budget_usd, workflow.budget_usd, workflow.project.default_budget_usd),
            timeout_s=timeout_s or workflow.timeout_s or workflow.project.default_timeout_s
            or settings.STUDIO_RUN_TIMEOUT_S,
            parent_run=parent_run, rerun_from_node=rerun_from_node, session_id=session_id,
            replay=replay,
        )
        event_append(run_id=run.pk, type="run.queued", payload={"status": "queued"})
        audit_record(project=workflow.project, actor=user, verb="run.start", obj=run,
                     data={"workflow": workflow.slug, "version": version.version if version else None})
        transaction.on_commit(lambda: run_dispatch(run.pk))
    return run


def run_rerun_from(*, run: Run, node_id: str, user: Any, inputs: dict[str, Any] | None = None) -> Run:
    """Start a new run of the same graph that reuses every finished step not downstream of ``node_id``.

    No model call is made for reused steps. ``inputs`` replaces the run's
    inputs when given. The new run links to ``run`` as its parent. Raises
    ``ValueError`` for an unknown node, plus :func:`run_start`'s errors.
    """
    if node_id not in {node.get("id") for node in run.graph.get("nodes", [])}:
        raise ValueError(f'The run has no node "{node_id}".')
    return run_start(
        workflow=run.workflow, user=user, inputs=inputs if inputs is not None else run.inputs,
        version=run.version, budget_tokens=run.budget_tokens, budget_usd=run.budget_usd,
        max_concurrency=run.max_concurrency, parent_run=run, rerun_from_node=node_id,
    )


def run_retry(*, run: Run, user: Any) -> Run:
    """Start the same version (or the draft) again with ``run``'s inputs and budgets; nothing is reused.

    The new run links to ``run`` as its parent (shown as a retry of it). Raises :func:`run_start`'s errors.
    """
    return run_start(
        workflow=run.workflow, user=user, inputs=run.inputs, version=run.version, budget_tokens=run.budget_tokens,
        budget_usd=run.budget_usd, max_concurrency=run.max_concurrency, parent_run=run,
    )


def run_cancel(*, run: Run, user: Any) -> Run:
    """Ask a run to stop. A queued or waiting run is cancelled at once; a running
    one stops at its next check (between steps and during model calls).

    Raises :class:`RunStateError` for a run that already finished.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.is_terminal:
            raise RunStateError(f"The run already {locked.status}.")
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if locked.status in (RunStatus.QUEUED, RunStatus.WAITING):
            locked.status = RunStatus.CANCELLED
            locked.finished_at = timezone.now()
            locked.error, locked.error_code = "Cancelled by a user.", "cancelled"
            fields += ["status", "finished_at", "error", "error_code"]
        locked.save(update_fields=fields)
        if locked.status == RunStatus.CANCELLED:
            event_append(run_id=locked.pk, type="run.finished",
                         payload={"status": "cancelled", "outputs": {}, "error": locked.error,
                                  "error_code": "cancelled", "input_tokens": locked.input_tokens,
                                  "output_tokens": locked.output_tokens, "cost_usd": str(locked.cost_usd),
                                  "cost_unknown": locked.cost_unknown, "duration_ms": locked.duration_ms})
        else:
            event_append(run_id=locked.pk, type="run.cancel_requested", payload={})
            if locked.lease_expires_at is None or locked.lease_expires_at < timezone.now():
                # Its worker is gone (a restart, a killed worker): the next attempt starts by seeing the
                # cancel and ends the run at once, instead of waiting for the sweeper.
                transaction.on_commit(lambda: run_dispatch(locked.pk))
        audit_record(project=locked.project, actor=user, verb="run.cancel", obj=locked)
    return locked


def run_wait(run_id: int, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> Run:
    """Block until the run leaves queued/running (CLI and tests). Raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = Run.objects.get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.status} after {timeout_s:.0f} s")
        time.sleep(poll_s)
