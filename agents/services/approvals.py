"""Deciding on approval steps (human in the loop).

The caller has already checked access (``agents.selectors.access_run`` with
``perm="run"``: runners answer approvals).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents.dispatch import run_dispatch
from agents.effects.approvals import approval_config
from agents.engine.errors import SignatureError
from agents.engine.signature import Signature
from agents.events import event_append
from agents.models import ApprovalDecision, Run, RunStatus, Step, StepStatus, SubworkflowCall
from agents.services.runs import RunStateError
from studio.services import audit_record


class ApprovalDataError(Exception):
    """The edited data does not fit the approval node's signature. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()) or "Invalid data.")
        self.errors = errors


def approval_decide(
    *, run: Run, node_id: str, iteration: str = "", approved: bool, data: dict[str, Any] | None = None,
    comment: str = "", user: Any,
) -> ApprovalDecision:
    """Record a decision on the waiting approval step (node_id, iteration) and resume the run.

    ``data`` (only used when approving) replaces some or all of the reviewed
    values; it is validated against the approval node's input signature
    together with the values it leaves unchanged. Atomic: the decision, an
    audit event and the run event ``approval.decided`` are written together,
    the run goes back to ``queued`` and is dispatched after commit; the
    resumed run reuses every finished step. For a sub-workflow's run, the
    waiting parents are re-queued too and the top one is dispatched (it runs
    the child inline again).

    Raises :class:`RunStateError` when the run is not ``waiting``, that step
    is not a waiting approval, or it was already decided;
    :class:`ApprovalDataError` when ``data`` does not fit.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().select_related("project").get(pk=run.pk)
        if locked.status != RunStatus.WAITING:
            raise RunStateError(f"The run is {locked.status}, not waiting for an approval.")
        step = Step.objects.filter(run=locked, node_id=node_id, iteration=iteration).first()
        where = f'"{node_id}"' + (f" (iteration {iteration})" if iteration else "")
        if step is None or step.node_type != "approval" or step.status != StepStatus.WAITING:
            raise RunStateError(f"No approval step {where} is waiting in this run.")
        if ApprovalDecision.objects.filter(run=locked, node_id=node_id, iteration=iteration).exists():
            raise RunStateError(f"The approval step {where} was already decided.")
        clean = _check_data(locked, step, data) if approved and data else None
        decision = ApprovalDecision.objects.create(
            run=locked, node_id=node_id, iteration=iteration, approved=approved, data=clean, comment=comment,
            decided_by=user if getattr(user, "pk", None) else None,
        )
        decided_by = user.get_username() if getattr(user, "pk", None) else ""
        audit_record(project=locked.project, actor=user, verb="run.approval_decide", obj=locked,
                     data={"node_id": node_id, "iteration": iteration, "approved": approved,
                           "edited": sorted(clean) if clean else []})
        event_append(run_id=locked.pk, type="approval.decided",
                     payload={"node_id": node_id, "iteration": iteration, "approved": approved, "comment": comment,
                              "decided_by": decided_by, "edited": sorted(clean) if clean else []})
        top = _requeue(locked)
        transaction.on_commit(lambda: run_dispatch(top.pk))
    return decision


def _check_data(run: Run, step: Step, data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApprovalDataError({"data": "Must be an object of the reviewed fields."})
    config = approval_config(run.graph, step.node_id)
    if config is None:
        raise RunStateError(f'The run\'s graph has no approval node "{step.node_id}".')
    signature = Signature(config.inputs)
    unknown = sorted(set(data) - set(signature.names()))
    if unknown:
        raise ApprovalDataError({name: "Not a reviewed field." for name in unknown})
    try:
        validated = signature.validate({**step.inputs, **data})
    except SignatureError as exc:
        raise ApprovalDataError({name or "data": "; ".join(problems)
                                 for name, problems in exc.field_errors.items()}) from exc
    return {name: validated[name] for name in data}


def _requeue(run: Run) -> Run:
    """Put ``run`` and every waiting run above it (sub-workflow parents) back in
    ``queued``; returns the top one, which is dispatched."""
    current = run
    while True:
        Run.objects.filter(pk=current.pk).update(status=RunStatus.QUEUED, lease_expires_at=None)
        event_append(run_id=current.pk, type="run.queued", payload={"status": "queued", "reason": "approval.decided"})
        call = SubworkflowCall.objects.filter(child_run=current).select_related("parent_run").first()
        if call is None:
            return current
        parent = Run.objects.select_for_update().get(pk=call.parent_run_id)
        if parent.status != RunStatus.WAITING:
            return current  # the parent is not waiting on it (running, or ended): run the child alone
        current = parent
