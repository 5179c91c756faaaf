"""Sub-workflows: the engine's ``SubworkflowRunner`` and the cycle check before a run.

A ``subworkflow`` step runs the latest *published* version of another
workflow of the same project as a child :class:`~agents.models.Run`
(``parent_run`` = the calling run), inline on the caller's worker: the child
is claimed and executed by the runtime's one ``execute_claimed`` (attempt
fence, lease, time limit, budget rule, database threads, checkpointed steps)
and its result returned to the step.

Idempotent per (parent run, node, iteration): a
:class:`~agents.models.SubworkflowCall` row links the step to its child, so
a resumed parent picks up the same child — finished (its result is reused),
waiting (the step waits too), queued or interrupted (it is claimed and
resumed, reusing the child's finished steps) — and never starts another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction

from agents.effects.transport import egress_allowed_hosts
from agents.engine import (
    InputValidationError,
    RunResult,
    check_inputs,
    find_subworkflow_cycle,
    input_signature,
    output_signature,
    parse_graph,
    subworkflow_refs,
    validate_graph,
)
from agents.engine.nodes import NodeError
from agents.events import Fenced, event_append
from agents.models import Run, RunStatus, SubworkflowCall, Workflow, WorkflowVersion
from studio.services import audit_record

if TYPE_CHECKING:
    from studio.models import Project

#: Sub-workflows nest at most this deep (a guard besides the cycle check).
MAX_DEPTH = 8
#: Seconds between two looks at a child run executed by another worker.
POLL_S = 0.5
_SETTLED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.WAITING)


def latest_published(project_id: int, slug: str) -> WorkflowVersion | None:
    """The highest published version of workflow ``slug`` in the project, or ``None``."""
    return (
        WorkflowVersion.objects.select_related("workflow")
        .filter(workflow__project_id=project_id, workflow__slug=slug)
        .order_by("-version")
        .first()
    )


def _published_graph(project_id: int, slug: str) -> dict[str, Any] | None:
    version = latest_published(project_id, slug)
    return version.graph if version is not None else None


def check_subworkflow_cycles(project: Project, graph: dict[str, Any], *, slug: str | None = None) -> list[str]:
    """Problems of the sub-workflows ``graph`` calls, before a run starts (empty: fine).

    Reports a workflow that does not exist or has no published version, a
    ``subworkflow`` node whose declared outputs the published version lacks,
    and a cycle (``a → b → a``) through the published versions the runtime
    would run. ``slug`` is the workflow ``graph`` belongs to (so that a
    child calling it back is caught even before this graph is published).
    """
    problems: list[str] = []
    cache: dict[str, dict[str, Any] | None] = {}

    def load(name: str) -> dict[str, Any] | None:
        if name not in cache:
            cache[name] = _published_graph(project.pk, name)
        return cache[name]

    for node in _subworkflow_nodes(graph):
        ref = str(node["config"].get("workflow") or "")
        if not ref:
            continue
        child = load(ref)
        if child is None:
            problems.append(
                f'Node "{node.get("id")}" calls workflow "{ref}", which does not exist in project '
                f"{project.slug} or has no published version."
            )
            continue
        problems += _signature_problems(node, ref, child)
    cycle = find_subworkflow_cycle(slug or "(this workflow)", graph, load)
    if cycle:
        problems.append(
            "Sub-workflows call each other in a cycle: " + " → ".join(cycle) + ". A workflow may not call itself."
        )
    return problems


def _subworkflow_nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "subworkflow" and isinstance(value.get("config"), dict):
                found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(graph.get("nodes", []))
    return found


def _signature_problems(node: dict[str, Any], ref: str, child_graph: dict[str, Any]) -> list[str]:
    try:
        doc = parse_graph(child_graph)
        child_in, child_out = input_signature(doc), output_signature(doc)
    except Exception:  # noqa: BLE001 - a broken published graph is reported when it runs
        return []
    declared_in = {f.get("name") for f in node["config"].get("inputs", []) if isinstance(f, dict)}
    declared_out = [f.get("name") for f in node["config"].get("outputs", []) if isinstance(f, dict)]
    problems = [
        f'Node "{node.get("id")}" expects output "{name}" of workflow "{ref}", whose published version has none.'
        for name in declared_out
        if name not in child_out
    ]
    problems += [
        f'Node "{node.get("id")}" does not pass input "{name}", required by workflow "{ref}".'
        for name in child_in.required_names()
        if name not in declared_in
    ]
    return problems


@dataclass
class DjangoSubworkflowRunner:
    """``SubworkflowRunner`` for run ``run_id`` (attempt ``attempt``) of project ``project_id``.

    ``execute(child_run_id)`` claims and executes a child run exactly as any
    run is executed (``agents.runtime.run_execute`` with ``child=True``: the
    same claim, lease, time limit, budget rule and database threads), and
    returns the status written, or None when the child could not be claimed
    (another worker executes it) or this attempt was fenced out.
    """

    run_id: int
    project_id: int
    attempt: int
    execute: Callable[[int], Awaitable[str | None]]

    async def run(self, workflow_slug: str, inputs: dict[str, Any], *, node_id: str, iteration: str) -> RunResult:
        """Run (or pick up) the child run of step (node_id, iteration) and return its result.

        Tokens and cost in the result are the child's usage not yet counted
        into this step (so a resumed parent does not count them twice).
        Raises ``LookupError`` (unknown or unpublished workflow) and
        :class:`NodeError` (``subworkflow_cycle``, ``invalid_inputs``,
        ``invalid_graph``).
        """
        call = await sync_to_async(self._call_for)(workflow_slug, inputs, node_id, iteration)
        await self._drive(call.child_run_id)
        return await sync_to_async(self._result)(call.pk)

    # ------------------------------------------------------------ creating the child

    def _call_for(self, slug: str, inputs: dict[str, Any], node_id: str, iteration: str) -> SubworkflowCall:
        existing = SubworkflowCall.objects.filter(parent_run_id=self.run_id, node_id=node_id, iteration=iteration)
        found = existing.first()
        if found is not None:
            return found
        version = latest_published(self.project_id, slug)
        if version is None:
            exists = Workflow.objects.filter(project_id=self.project_id, slug=slug).exists()
            raise LookupError("it has no published version" if exists else "no such workflow in this project")
        parent = Run.objects.select_related("workflow").get(pk=self.run_id)
        self._check_cycle(parent, slug, version.graph)
        issues = validate_graph(version.graph, allowed_hosts=egress_allowed_hosts(self.project_id))
        if issues:
            raise NodeError(f"workflow {slug!r} v{version.version} is invalid: {issues[0].message}",
                            code="invalid_graph")
        try:
            clean = check_inputs(version.graph, inputs)
        except InputValidationError as exc:
            raise NodeError(f"inputs of workflow {slug!r}: {exc}", code="invalid_inputs") from None
        try:
            return self._create_child(parent, version, clean, node_id, iteration)
        except IntegrityError:  # a superseded attempt of this run created it meanwhile
            return existing.get()

    def _check_cycle(self, parent: Run, slug: str, graph: dict[str, Any]) -> None:
        chain = [parent.workflow.slug]
        current = parent
        while True:
            call = SubworkflowCall.objects.filter(child_run=current).select_related("parent_run__workflow").first()
            if call is None:
                break
            current = call.parent_run
            chain.insert(0, current.workflow.slug)
        cycle = [slug] if slug in chain else find_subworkflow_cycle(
            slug, graph, lambda name: _published_graph(self.project_id, name)
        )
        if cycle:
            loop = _first_loop([*chain, *cycle])
            raise NodeError("sub-workflows call each other in a cycle: " + " → ".join(loop), code="subworkflow_cycle")
        if len(chain) >= MAX_DEPTH:
            raise NodeError(f"sub-workflows nest more than {MAX_DEPTH} deep", code="subworkflow_cycle")

    def _create_child(self, parent: Run, version: WorkflowVersion, inputs: dict[str, Any], node_id: str,
                      iteration: str) -> SubworkflowCall:
        workflow = version.workflow
        with transaction.atomic():
            if not Run.objects.filter(pk=parent.pk, attempt=self.attempt, status=RunStatus.RUNNING).exists():
                raise Fenced(f"run {parent.pk} attempt {self.attempt} was superseded")
            child = Run.objects.create(
                project_id=self.project_id, workflow=workflow, version=version, graph=version.graph, inputs=inputs,
                status=RunStatus.QUEUED, created_by_id=parent.created_by_id, parent_run=parent,
                max_concurrency=workflow.max_concurrency,
                timeout_s=workflow.timeout_s or settings.STUDIO_RUN_TIMEOUT_S,
                budget_tokens=_remaining(parent.budget_tokens, parent.total_tokens, workflow.budget_tokens),
                budget_usd=_remaining(parent.budget_usd, parent.cost_usd, workflow.budget_usd),
                replay=parent.replay,  # a replayed suite case replays its sub-workflows' calls too
            )
            call = SubworkflowCall.objects.create(parent_run=parent, node_id=node_id, iteration=iteration,
                                                  child_run=child)
            event_append(run_id=child.pk, type="run.queued",
                         payload={"status": "queued", "parent_run": parent.pk, "node_id": node_id})
            audit_record(project=workflow.project, actor=parent.created_by, verb="run.start", obj=child,
                         data={"workflow": workflow.slug, "version": version.version, "parent_run": parent.pk,
                               "node_id": node_id, "iteration": iteration})
        return call

    # ------------------------------------------------------------ executing it inline

    async def _drive(self, child_id: int) -> None:
        """Bring the child to a settled state (finished or waiting): execute it
        here when it can be claimed, else wait for the worker that holds it."""
        while True:
            status = await Run.objects.filter(pk=child_id).values_list("status", flat=True).aget()
            if status in _SETTLED:
                return
            if await self.execute(child_id) is None:
                await asyncio.sleep(POLL_S)  # another worker executes it; its state is in the database

    def _result(self, call_id: int) -> RunResult:
        """The child's result, charging only usage not yet counted into the parent's step."""
        with transaction.atomic():
            call = SubworkflowCall.objects.select_for_update().select_related("child_run").get(pk=call_id)
            child = call.child_run
            result = RunResult(
                status=child.status,  # type: ignore[arg-type]
                outputs=dict(child.outputs) if child.status == RunStatus.SUCCEEDED else {},
                error=child.error, error_code=child.error_code, failed_node=child.failed_node or None,
                input_tokens=max(0, child.input_tokens - call.charged_input_tokens),
                output_tokens=max(0, child.output_tokens - call.charged_output_tokens),
                cost_usd=max(Decimal("0"), child.cost_usd - call.charged_cost_usd),
                cost_unknown=child.cost_unknown,
            )
            call.charged_input_tokens = max(call.charged_input_tokens, child.input_tokens)
            call.charged_output_tokens = max(call.charged_output_tokens, child.output_tokens)
            call.charged_cost_usd = max(call.charged_cost_usd, child.cost_usd)
            call.save(update_fields=["charged_input_tokens", "charged_output_tokens", "charged_cost_usd"])
        return result


def _first_loop(path: list[str]) -> list[str]:
    """The first stretch of ``path`` that comes back to a slug: ``[x, a, b, a, b]`` → ``[a, b, a]``."""
    seen: dict[str, int] = {}
    for index, slug in enumerate(path):
        if slug in seen:
            return path[seen[slug] : index + 1]
        seen[slug] = index
    return path


def _remaining(parent_budget: Any, parent_used: Any, own_budget: Any) -> Any:
    """The child's budget: what the parent has left, capped by the child workflow's own budget."""
    if parent_budget is None:
        return own_budget
    left = max(type(parent_budget)(0), parent_budget - parent_used)
    return left if own_budget is None else min(left, own_budget)


__all__ = ["DjangoSubworkflowRunner", "check_subworkflow_cycles", "latest_published", "subworkflow_refs"]
