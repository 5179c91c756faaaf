"""Outbound callbacks: a signed JSON POST to each configured URL when a run finishes.

:func:`on_run_event` (connected to ``RunEvent`` ``post_save`` in
``agents.deploy.apps``) sees every ``run.finished`` event where it is written;
for a run that succeeded or failed, it creates one
:class:`~agents.deploy.models.CallbackDelivery` per enabled endpoint of the
workflow and, on commit, enqueues ``agents.deploy.tasks.deliver_callback``.
The task posts ``{"event": "run.finished", "run", "project", "workflow",
"version", "status", "outputs", "error", "error_code", "cost_usd",
"input_tokens", "output_tokens", "finished_at"}`` with the inbound webhooks'
headers (``X-Studio-Timestamp``, ``X-Studio-Signature``) plus
``X-Studio-Delivery: <id>``, through the egress guard (every resolved address
and redirect checked; the project's allow-list applies). A non-2xx answer or a
connection error is retried with exponential backoff
(``STUDIO_CALLBACK_RETRY_BASE_S`` * 2^n, at most ``STUDIO_CALLBACK_MAX_ATTEMPTS``
attempts); an address the guard refuses fails at once. Resend starts over.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from agents.deploy.models import CallbackDelivery, CallbackEndpoint
from agents.deploy.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from agents.effects.transport import egress_allowed_hosts, pinned_client
from agents.models import Run, RunEvent, RunStatus, Workflow
from studio.crypto import decrypt, encrypt
from studio.lib.ssrf import EgressRefused, check_url
from studio.services import audit_record

FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED)
TIMEOUT_S = 10.0


class CallbackConfigError(ValueError):
    """A callback URL is refused. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def callback_create(*, workflow: Workflow, user: Any, url: str) -> tuple[CallbackEndpoint, str]:
    """Add a callback URL (checked by the egress guard now: a private or metadata address is refused unless
    an admin allowed the host); returns it and its signing secret (shown once). Audited ``callback.create``.
    Raises :class:`CallbackConfigError`."""
    try:
        check_url(url, allowed_hosts=egress_allowed_hosts(workflow.project_id))
    except EgressRefused as exc:
        raise CallbackConfigError({"url": str(exc)}) from None
    except (ConnectionError, OSError) as exc:
        raise CallbackConfigError({"url": f"The host does not resolve: {exc}"}) from None
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        endpoint = CallbackEndpoint.objects.create(
            workflow=workflow,
            url=url,
            secret_ciphertext=encrypt(secret),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit_record(
            project=workflow.project,
            actor=user,
            verb="callback.create",
            obj=endpoint,
            data={"workflow": workflow.slug, "url": url},
        )
    return endpoint, secret


def callback_delete(*, endpoint: CallbackEndpoint, user: Any) -> None:
    """Remove a callback URL and its deliveries. Audited ``callback.delete``."""
    with transaction.atomic():
        audit_record(
            project=endpoint.workflow.project,
            actor=user,
            verb="callback.delete",
            obj=endpoint,
            data={"workflow": endpoint.workflow.slug, "url": endpoint.url},
        )
        endpoint.delete()


def _enqueue(delivery_id: int) -> None:
    from agents.deploy.tasks import deliver_callback

    deliver_callback.delay(delivery_id)


def on_run_event(sender: Any, instance: RunEvent, created: bool, **kwargs: Any) -> None:
    """``post_save`` of ``RunEvent``: a succeeded or failed run gets one delivery per enabled endpoint."""
    if not created or instance.type != "run.finished":
        return
    status = (instance.payload or {}).get("status")
    if status not in FINISHED:
        return
    run = Run.objects.filter(pk=instance.run_id).only("pk", "workflow_id").first()
    if run is None:
        return
    for endpoint in CallbackEndpoint.objects.filter(workflow_id=run.workflow_id, enabled=True):
        delivery, made = CallbackDelivery.objects.get_or_create(endpoint=endpoint, run=run)
        if made:
            transaction.on_commit(lambda pk=delivery.pk: _enqueue(pk))


def callback_resend(*, delivery: CallbackDelivery, user: Any) -> CallbackDelivery:
    """Send a delivery again from its first attempt. Audited ``callback.resend``."""
    with transaction.atomic():
        CallbackDelivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0, last_error="")
        audit_record(
            project=delivery.endpoint.workflow.project,
            actor=user,
            verb="callback.resend",
            obj=delivery,
            data={"run": delivery.run_id, "url": delivery.endpoint.url},
        )
        transaction.on_commit(lambda: _enqueue(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def callback_payload(run: Run) -> dict[str, Any]:
    """The JSON body of a run's callback (USD cost as a decimal string, tokens as counts)."""
    return {
        "event": "run.finished",
        "run": run.pk,
        "project": run.project.slug,
        "workflow": run.workflow.slug,
        "version": run.version.version if run.version else None,
        "status": run.status,
        "outputs": run.outputs,
        "error": run.error,
        "error_code": run.error_code,
        "cost_usd": str(run.cost_usd),
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


async def _post(url: str, body: bytes, headers: dict[str, str], allowed: list[str]) -> int:
    timeout = httpx.Timeout(TIMEOUT_S)
    async with pinned_client(allowed_hosts=allowed, timeout=timeout, headers=headers) as client:
        response = await client.post(url, content=body)
        return response.status_code


def callback_attempt(delivery_id: int) -> str:
    """Send one attempt of a delivery; returns ``delivered``, ``retry`` or ``failed`` (refused by the egress
    guard: retrying cannot help) and records it. ``retry`` leaves the delivery ``pending``."""
    delivery = (
        CallbackDelivery.objects.select_related("endpoint", "run", "run__project", "run__workflow", "run__version")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != "pending":
        return "done"
    endpoint = delivery.endpoint
    body = json.dumps(callback_payload(delivery.run), cls=DjangoJSONEncoder).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(decrypt(endpoint.secret_ciphertext), timestamp, body),
        "X-Studio-Delivery": str(delivery.pk),
    }
    outcome, code, error = "retry", None, ""
    try:
        code = asyncio.run(_post(endpoint.url, body, headers, egress_allowed_hosts(delivery.run.project_id)))
        outcome = "delivered" if 200 <= code < 300 else "retry"
        error = "" if outcome == "delivered" else f"answered {code}"
    except EgressRefused as exc:
        outcome, error = "failed", str(exc)
    except (httpx.HTTPError, ConnectionError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    fields: dict[str, Any] = {"attempts": delivery.attempts + 1, "last_status_code": code, "last_error": error[:500]}
    if outcome == "delivered":
        fields.update(status="delivered", delivered_at=timezone.now())
    elif outcome == "failed":
        fields["status"] = "failed"
    CallbackDelivery.objects.filter(pk=delivery.pk).update(**fields)
    return outcome


def callback_give_up(delivery_id: int) -> None:
    """Retries exhausted: the delivery is ``failed`` (resend to try again)."""
    CallbackDelivery.objects.filter(pk=delivery_id, status="pending").update(status="failed")
