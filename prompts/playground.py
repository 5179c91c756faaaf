"""The prompt playground: render a version with variable values and call a model endpoint with it.

One call = render (:func:`prompts.services.prompt_version_render`, strict and
typed) then one call through the LLM gateway (:func:`traces.gateway.complete`),
which records a span carrying the prompt version, tokens, cost and latency —
like a call from a run, without a run. Every call is audited
(``prompt.playground``). A render error raises :class:`~prompts.services.PromptError`
before anything is called; a model error is a result with ``ok`` False (the
gateway recorded its span too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync

from prompts.models import PromptVersion
from prompts.services import PromptError, prompt_version_render
from studio.services import audit_record
from traces.endpoints.services import EndpointError, check_api_base
from traces.models import ModelEndpoint

#: Longest answer kept for the page (characters); the span keeps what the gateway keeps.
MAX_SHOWN_CHARS = 20_000


@dataclass
class PlaygroundResult:
    """What one playground call gave.

    ``messages``: the rendered chat sent. ``text``: the answer (or ``error``
    with its stable ``error_code`` when ``ok`` is False). Tokens are counts
    (``usage_estimated`` when the provider reported none); ``cost_usd`` is
    USD, ``None`` when the price is unknown (never shown as $0);
    ``latency_ms`` the model call's wall time in ms; ``span_id`` the span the
    gateway recorded (None if the call never reached it).
    """

    version: int
    endpoint: str
    messages: list[dict[str, str]] = field(default_factory=list)
    ok: bool = False
    text: str = ""
    error: str = ""
    error_code: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    price_source: str = ""
    latency_ms: float = 0.0
    span_id: int | None = None
    usage_estimated: bool = False

    @property
    def cost_text(self) -> str:
        """``$0.000123`` or ``unknown``."""
        return "unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"


def coerce_form_value(raw: str, type_name: str) -> Any:
    """A form's text for a variable of ``type_name``: ``str``/``enum`` as typed; other types
    parsed as JSON (``3``, ``true``, ``[1, 2]``) and left as text when that fails, so the typed
    render check names the variable."""
    if type_name in ("str", "enum"):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def playground_run(
    *, version: PromptVersion, endpoint: ModelEndpoint, variables: dict[str, Any], user: Any
) -> PlaygroundResult:
    """Render ``version`` with ``variables`` and call ``endpoint`` once (its project must be the
    prompt's: the caller picks it from the project's endpoints). Sampling parameters are the
    version's ``model_config`` (the endpoint's pinned parameters win, as in runs).

    Raises :class:`PromptError` for a render error (nothing called, nothing recorded).
    Returns a :class:`PlaygroundResult`; a refused ``api_base`` or a model error is
    ``ok=False`` with the message.
    """
    from traces.gateway import GatewayError, SpanContext, complete

    messages = prompt_version_render(version=version, variables=variables)
    prompt = version.prompt
    result = PlaygroundResult(version=version.version, endpoint=endpoint.name, messages=messages)
    if endpoint.project_id != prompt.project_id:
        raise PromptError("That endpoint belongs to another project.", code="foreign_endpoint", field="endpoint")
    try:
        check_api_base(endpoint.api_base, project=prompt.project)
        completion = async_to_sync(complete)(
            endpoint=endpoint,
            messages=messages,
            params=dict(version.model_config or {}),
            context=SpanContext(
                project_id=prompt.project_id, trace_id=None, name=f"playground {prompt.slug} v{version.version}"
            ),
            prompt_version_id=version.pk,
        )
    except EndpointError as exc:
        result.error, result.error_code = exc.message, exc.code
    except GatewayError as err:
        result.error, result.error_code, result.span_id = str(err), err.code, err.span_id
    else:
        result.ok = True
        result.text = completion.text[:MAX_SHOWN_CHARS]
        result.input_tokens, result.output_tokens = completion.input_tokens, completion.output_tokens
        result.cost_usd, result.price_source = completion.cost_usd, completion.price_source
        result.latency_ms, result.span_id = completion.latency_ms, completion.span_id or None
        result.usage_estimated = completion.usage_estimated
    audit_record(
        project=prompt.project,
        actor=user,
        verb="prompt.playground",
        obj=version,
        data={"prompt": prompt.slug, "version": version.version, "endpoint": endpoint.slug, "ok": result.ok},
    )
    return result
