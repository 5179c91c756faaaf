"""Inbound webhooks: a signed POST starts a run of the workflow's live version.

Signing (documented in the README): the sender puts the Unix time in seconds
in ``X-Studio-Timestamp`` and ``sha256=<hex>`` in ``X-Studio-Signature``,
where ``<hex>`` is HMAC-SHA256 with the trigger's secret over
``"<timestamp>." + <raw body bytes>``. A request is refused with 401 when a
header is missing, the signature is wrong, or the timestamp is more than
:data:`TOLERANCE_S` (5 min) away from now (a replayed request). Each
trigger accepts at most ``rate_limit_per_minute`` requests per minute
(a Redis counter through Django's cache; 429 past it). Every answered
request but a 404 writes a :class:`~agents.deploy.models.WebhookDelivery`
(a refused flood only its first refusal per minute).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from agents.deploy.models import WebhookDelivery, WebhookTrigger
from agents.deploy.selectors import deployment_live, live_version
from agents.engine import TemplateError, input_signature
from agents.engine.templating import evaluate, expression_problems
from agents.models import Run, Workflow
from agents.services.runs import GraphInvalidError, RunInputError, run_start
from studio.crypto import decrypt, encrypt
from studio.lib.jsonsafe import JsonValueError, loads_strict
from studio.lib.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from studio.services import audit_record

TOLERANCE_S = 300
MAX_MAP_FIELDS = 100
MAX_EXPRESSION = 1000


class WebhookConfigError(ValueError):
    """A trigger's settings are invalid. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors



def check_input_map(workflow: Workflow, input_map: Any) -> dict[str, str]:
    """The input map validated: ``{input field: expression over body}``. Fields must belong to the live
    (else latest published) version's input signature; expressions must parse and read only ``body``.
    Raises :class:`WebhookConfigError`."""
    if not isinstance(input_map, dict):
        raise WebhookConfigError({"input_map": "Must be an object of input field → expression."})
    if len(input_map) > MAX_MAP_FIELDS:
        raise WebhookConfigError({"input_map": f"At most {MAX_MAP_FIELDS} fields."})
    version = live_version(workflow=workflow) or workflow.versions.order_by("-version").first()
    names = set(input_signature(version.graph).names()) if version is not None else None
    errors: dict[str, str] = {}
    for field, expression in input_map.items():
        if names is not None and field not in names:
            errors[f"input_map.{field}"] = f"The workflow has no input {field!r}."
        elif not isinstance(expression, str) or not expression.strip() or len(expression) > MAX_EXPRESSION:
            errors[f"input_map.{field}"] = f"An expression over body, 1 to {MAX_EXPRESSION} characters."
        else:
            problems = expression_problems(expression, allowed=["body"])
            if problems:
                errors[f"input_map.{field}"] = "; ".join(problems)
    if errors:
        raise WebhookConfigError(errors)
    return {str(k): str(v) for k, v in input_map.items()}


def webhook_create(
    *, workflow: Workflow, user: Any, name: str, input_map: Any = None, rate_limit_per_minute: int = 60
) -> tuple[WebhookTrigger, str]:
    """Create a trigger; returns it and its secret (shown once, stored encrypted). Audited
    ``webhook.create``. Raises :class:`WebhookConfigError`."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise WebhookConfigError({"name": "1 to 100 characters."})
    if not isinstance(rate_limit_per_minute, int) or not 1 <= rate_limit_per_minute <= 10_000:
        raise WebhookConfigError({"rate_limit_per_minute": "Between 1 and 10000."})
    clean_map = check_input_map(workflow, input_map or {})
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        trigger = WebhookTrigger.objects.create(
            workflow=workflow,
            name=name,
            token=secrets.token_urlsafe(24),
            secret_ciphertext=encrypt(secret),
            input_map=clean_map,
            rate_limit_per_minute=rate_limit_per_minute,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit_record(
            project=workflow.project,
            actor=user,
            verb="webhook.create",
            obj=trigger,
            data={"workflow": workflow.slug, "name": name},
        )
    return trigger, secret


def webhook_delete(*, trigger: WebhookTrigger, user: Any) -> None:
    """Delete a trigger and its delivery log. Audited ``webhook.delete``."""
    with transaction.atomic():
        audit_record(
            project=trigger.workflow.project,
            actor=user,
            verb="webhook.delete",
            obj=trigger,
            data={"workflow": trigger.workflow.slug, "name": trigger.name},
        )
        trigger.delete()


@dataclass(frozen=True)
class WebhookAnswer:
    """What the receiver answers: HTTP status, a stable code, a message, the run started (if any)."""

    status_code: int
    code: str
    detail: str
    run: Run | None = None


def _over_limit(trigger: WebhookTrigger, now: float) -> tuple[bool, bool]:
    """(refused, first refusal of this minute) — a per-trigger, per-minute counter in the cache (Redis)."""
    key = f"studio:webhook:{trigger.pk}:{int(now // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    return count > trigger.rate_limit_per_minute, count == trigger.rate_limit_per_minute + 1


def webhook_receive(
    *, token: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None
) -> WebhookAnswer:
    """Check and act on one webhook request (see the module docstring). Never raises for bad input."""
    now = time.time() if now is None else now
    trigger = (
        WebhookTrigger.objects.select_related("workflow", "workflow__project", "created_by")
        .filter(token=token, enabled=True, workflow__deleted_at__isnull=True)
        .first()
    )
    if trigger is None:
        return WebhookAnswer(404, "not_found", "No such webhook.")
    refused, first_refusal = _over_limit(trigger, now)
    if refused:
        answer = WebhookAnswer(429, "rate_limited", f"More than {trigger.rate_limit_per_minute} requests a minute.")
        return _log(trigger, answer) if first_refusal else answer
    return _log(trigger, _accept(trigger, timestamp, signature, body, now))


def _accept(
    trigger: WebhookTrigger, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> WebhookAnswer:
    if not timestamp or not signature:
        return WebhookAnswer(401, "missing_signature", f"Send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}.")
    if not timestamp.isdigit() or len(timestamp) > 12:
        return WebhookAnswer(401, "bad_timestamp", f"{TIMESTAMP_HEADER} must be Unix time in seconds.")
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return WebhookAnswer(401, "stale_timestamp", f"The timestamp is more than {TOLERANCE_S} s from now.")
    expected = webhook_signature(decrypt(trigger.secret_ciphertext), timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        return WebhookAnswer(401, "bad_signature", "The signature does not match.")
    try:
        payload = loads_strict(body) if body else {}
    except (JsonValueError, ValueError) as exc:
        return WebhookAnswer(400, "invalid_json", str(exc)[:400])
    inputs: Any
    if trigger.input_map:
        inputs = {}
        for field, expression in trigger.input_map.items():
            try:
                inputs[field] = evaluate(expression, {"body": payload})
            except TemplateError as exc:
                return WebhookAnswer(400, "invalid_mapping", f"{field}: {exc}"[:400])
    elif isinstance(payload, dict) and isinstance(payload.get("inputs"), dict):
        inputs = payload["inputs"]
    else:
        inputs = payload
    deployment = deployment_live(workflow=trigger.workflow)
    if deployment is None:
        return WebhookAnswer(409, "not_deployed", "The workflow has no live version.")
    if not isinstance(inputs, dict):
        return WebhookAnswer(400, "invalid_inputs", "The inputs must be a JSON object.")
    try:
        run = run_start(workflow=trigger.workflow, user=trigger.created_by, inputs=inputs, version=deployment.version)
    except RunInputError as exc:
        return WebhookAnswer(400, "invalid_inputs", str(exc)[:400])
    except GraphInvalidError as exc:
        return WebhookAnswer(400, "invalid_graph", str(exc)[:400])
    return WebhookAnswer(202, "started", "Run started.", run)


def _log(trigger: WebhookTrigger, answer: WebhookAnswer) -> WebhookAnswer:
    WebhookDelivery.objects.create(
        trigger=trigger, status_code=answer.status_code, outcome=answer.code, detail=answer.detail[:500], run=answer.run
    )
    return answer
