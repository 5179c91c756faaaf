"""Human in the loop: the engine's ``ApprovalGate`` and reads of pending approvals.

An ``approval`` step without a decision is stored ``waiting`` (its inputs are
what is under review) and its run becomes ``waiting``. A decision is written
by :func:`agents.services.approvals.approval_decide`, which re-queues the
run; the resumed run reuses every finished step and the approval step asks
this gate again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

from agents.engine.nodes import get_node_type
from agents.engine.nodes.approval import ApprovalConfig
from agents.engine.protocols import Decision
from agents.models import ApprovalDecision, Run, Step, StepStatus, SubworkflowCall


@dataclass(frozen=True)
class DjangoApprovalGate:
    """Decisions on the approval steps of run ``run_id``."""

    run_id: int

    async def get_decision(self, node_id: str, iteration: str) -> Decision | None:
        """The decision on (node, iteration) of the run, or ``None`` while nobody decided."""
        return await sync_to_async(self.decision)(node_id, iteration)

    def decision(self, node_id: str, iteration: str) -> Decision | None:
        """Synchronous :meth:`get_decision`."""
        row = (
            ApprovalDecision.objects.select_related("decided_by")
            .filter(run_id=self.run_id, node_id=node_id, iteration=iteration)
            .first()
        )
        if row is None:
            return None
        return Decision(
            approved=row.approved,
            data=row.data,
            comment=row.comment,
            decided_by=row.decided_by.get_username() if row.decided_by else "",
        )


def find_node(graph: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    """The node document of a step id in a graph document, or ``None``.

    ``node_id`` is a step id: ``review`` at the top level, ``loop.review``
    for a node inside container ``loop``'s body (nested: ``a.b.c``). Each
    segment is looked up breadth-first under the previous node's config.
    """
    scope: Any = graph
    node: dict[str, Any] | None = None
    for segment in node_id.split("."):
        node = _find_in(scope, segment)
        if node is None:
            return None
        scope = node.get("config", {})
    return node


def _find_in(scope: Any, node_id: str) -> dict[str, Any] | None:
    queue: deque[Any] = deque([scope])
    while queue:
        value = queue.popleft()
        if isinstance(value, dict):
            if value.get("id") == node_id and isinstance(value.get("type"), str) and "config" in value:
                return value
            queue.extend(value.values())
        elif isinstance(value, list):
            queue.extend(value)
    return None


def approval_config(graph: dict[str, Any], node_id: str) -> ApprovalConfig | None:
    """The parsed config of approval node ``node_id`` (a step id) in ``graph``, or ``None``."""
    node = find_node(graph, node_id)
    if node is None or node.get("type") != "approval":
        return None
    node_type = get_node_type("approval")
    assert node_type is not None
    config = node_type.parse_config(node.get("config") or {})
    assert isinstance(config, ApprovalConfig)
    return config


def approvals_pending(*, run: Run, include_children: bool = True) -> list[dict[str, Any]]:
    """Approval steps of an already-accessed run waiting for a decision.

    Each: ``run_id``, ``node_id``, ``iteration``, ``label``, ``inputs`` (what
    is under review, editable), ``instructions`` (rendered), ``fields`` (the
    reviewed signature: name, type, description, required ...), ``waiting_since``.
    With ``include_children``, also those of the sub-workflow runs it waits on
    (decide them on the child run's id).
    """
    runs = [run]
    if include_children:
        frontier = [run.pk]
        while frontier:
            calls = list(SubworkflowCall.objects.filter(parent_run_id__in=frontier).select_related("child_run"))
            runs += [call.child_run for call in calls]
            frontier = [call.child_run_id for call in calls]
    pending: list[dict[str, Any]] = []
    for current in runs:
        steps = Step.objects.filter(run=current, node_type="approval", status=StepStatus.WAITING).order_by(
            "started_at", "id"
        )
        for step in steps:
            config = approval_config(current.graph, step.node_id)
            pending.append(
                {
                    "run_id": current.pk,
                    "node_id": step.node_id,
                    "iteration": step.iteration,
                    "label": step.label,
                    "inputs": step.inputs,
                    "instructions": str(step.meta.get("instructions", "")),
                    "fields": [f.model_dump(mode="json") for f in config.inputs] if config else [],
                    "waiting_since": step.finished_at,
                }
            )
    return pending
