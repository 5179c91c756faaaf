"""Deterministic replay: the request key of a model call and the project's recordings.

A call whose :class:`~traces.gateway.SpanContext` has a ``replay`` mode
(:class:`~traces.models.ReplayMode`; suite case runs set it) goes through
:func:`traces.gateway.complete`'s one replay branch, which uses these
helpers. Normal runs (mode off) never reach this module.

The key is the SHA-256 of the normalised request's canonical JSON (sorted
keys, no whitespace): the endpoint's slug and model name (not its
``api_base`` or key: the same model served elsewhere — a developer's CI —
answers the same), the messages, the JSON Schema asked for, the tools and
the sampling parameters after the endpoint's pinned parameters are applied.
Changing any of them (a prompt, the model, an input) changes the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from traces.models import CallRecording, ModelEndpoint
from traces.recording import project_secret_values
from traces.redaction import redact

if TYPE_CHECKING:
    from traces.gateway import Completion

#: The error code (span and run) of a replayed call that has no recording.
NO_RECORDING = "no_recording"


def normalised_request(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The parts of a call that decide its answer, as a JSON-able dict (see the module doc)."""
    return {
        "endpoint": endpoint.slug,
        "model": endpoint.model,
        "messages": messages,
        "schema": schema,
        "tools": tools or [],
        "params": params,
    }


def request_key(request: dict[str, Any]) -> str:
    """SHA-256 hex (64 characters) of ``request``'s canonical JSON."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def recording_find(project_id: int, key: str) -> dict[str, Any] | None:
    """The recorded response of ``key`` in the project (see :class:`CallRecording`), or None. One query."""
    return CallRecording.objects.filter(project_id=project_id, key=key).values_list("response", flat=True).first()


def recording_save(
    *,
    project_id: int,
    key: str,
    endpoint: ModelEndpoint,
    request: dict[str, Any],
    completion: Completion,
    redact_values: tuple[str, ...] = (),
) -> None:
    """Record (or replace: the latest answer wins) the answer of ``key``.

    The stored request and response are redacted of the project's secrets
    and ``redact_values`` (a replayed answer then holds the redaction mark
    where the model had echoed a secret). Tokens are counts.
    """
    secrets = [*project_secret_values(project_id), *redact_values]
    response = {
        "text": completion.text,
        "tool_calls": [call._asdict() for call in completion.tool_calls],
        "finish_reason": completion.finish_reason,
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "cached_tokens": completion.cached_tokens,
    }
    CallRecording.objects.update_or_create(
        project_id=project_id,
        key=key,
        defaults={
            "endpoint_slug": endpoint.slug,
            "model": endpoint.model,
            "request": redact(request, secrets),
            "response": redact(response, secrets),
            "source_span_id": completion.span_id or None,
        },
    )
