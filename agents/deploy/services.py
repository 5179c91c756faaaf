"""Deploying a published version, and starting runs of the live version (the invoke API).

The caller has checked access: ``perm="change"`` on the workflow to deploy,
``perm="run"`` to invoke. Writes are atomic and audited; runs are dispatched
on commit by :func:`agents.services.runs.run_start`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from agents.deploy.models import Deployment, InvokeRequest
from agents.deploy.selectors import deployment_live
from agents.models import Run, Workflow, WorkflowVersion
from agents.services.runs import run_start
from studio.services import audit_record


class NotDeployedError(Exception):
    """The workflow has no live version: deploy a published version first."""


class IdempotencyKeyReusedError(Exception):
    """The ``Idempotency-Key`` was already used in this project with other inputs. ``run`` is its run."""

    def __init__(self, run: Run):
        super().__init__("This Idempotency-Key was already used with other inputs.")
        self.run = run


MAX_IDEMPOTENCY_KEY = 255


def deployment_create(*, workflow: Workflow, version: WorkflowVersion, user: Any, note: str = "") -> Deployment:
    """Make ``version`` the workflow's live version (a rollback when it is older than the live one).

    Audited as ``workflow.deploy`` with the version before and after.
    Raises ``ValueError`` when ``version`` belongs to another workflow.
    """
    if version.workflow_id != workflow.pk:
        raise ValueError("That version belongs to another workflow.")
    with transaction.atomic():
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()  # one deploy at a time per workflow
        previous = deployment_live(workflow=workflow)
        deployment = Deployment.objects.create(
            workflow=workflow,
            version=version,
            note=(note or "")[:500],
            deployed_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit_record(
            project=workflow.project,
            actor=user,
            verb="workflow.deploy",
            obj=workflow,
            data={
                "version": version.version,
                "previous": previous.version.version if previous else None,
                "rollback": bool(previous and version.version < previous.version.version),
            },
        )
    return deployment


def inputs_sha256(inputs: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``inputs`` (sorted keys, no spaces)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def invoke_start(
    *, workflow: Workflow, user: Any, inputs: dict[str, Any], idempotency_key: str | None = None
) -> tuple[Run, bool]:
    """Start a run of the workflow's live version; returns ``(run, created)``.

    With ``idempotency_key`` (scoped to the project): a key seen before
    returns its run and ``created=False``, no new run; the same key with
    other inputs raises :class:`IdempotencyKeyReusedError`. Raises
    :class:`NotDeployedError`, and :func:`run_start`'s errors
    (``RunInputError``, ``GraphInvalidError``) — nothing is stored then.
    """
    digest = inputs_sha256(inputs)
    if idempotency_key:
        found = _seen(workflow, idempotency_key, digest)
        if found is not None:
            return found, False
    deployment = deployment_live(workflow=workflow)
    if deployment is None:
        raise NotDeployedError(f"Workflow {workflow.slug} has no live version: deploy a published version first.")
    if not idempotency_key:
        return run_start(workflow=workflow, user=user, inputs=inputs, version=deployment.version), True
    try:
        with transaction.atomic():
            run = run_start(workflow=workflow, user=user, inputs=inputs, version=deployment.version)
            InvokeRequest.objects.create(project=workflow.project, key=idempotency_key, body_sha256=digest, run=run)
    except IntegrityError:  # a concurrent retry with the same key won: its run is the answer
        found = _seen(workflow, idempotency_key, digest)
        if found is None:
            raise
        return found, False
    return run, True


def _seen(workflow: Workflow, key: str, digest: str) -> Run | None:
    seen = InvokeRequest.objects.select_related("run").filter(project=workflow.project, key=key).first()
    if seen is None:
        return None
    if seen.body_sha256 != digest or seen.run.workflow_id != workflow.pk:
        raise IdempotencyKeyReusedError(seen.run)
    return seen.run
