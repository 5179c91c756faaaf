"""The gateway's synchronous side: load what a call needs, record its span.

Called from :mod:`traces.gateway` through ``sync_to_async``. Nothing here
talks to a model.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from studio.crypto import SecretDecryptError, decrypt, secret_reveal
from studio.models import Secret
from traces.errors import GatewayError
from traces.models import ModelEndpoint, Span, SpanStatus, Trace, TraceSource
from traces.otel.export import export_enabled, export_span
from traces.redaction import redact, redact_text
from traces.tokens import TokenUsage, derived_span_id

if TYPE_CHECKING:
    from traces.gateway import SpanContext
    from traces.responses import Answer

log = logging.getLogger(__name__)

# Request keys that never go into a span (credentials) or are shown separately.
_HIDDEN_REQUEST_KEYS = frozenset(
    {"api_key", "messages", "model", "api_base", "tools", "timeout", "num_retries", "max_retries", "_skip_mcp_handler"}
)


@dataclass(frozen=True)
class Prepared:
    """What a call needs from the database: the decrypted API key and the values to redact."""

    api_key: str | None = field(repr=False)
    redact_values: tuple[str, ...] = field(default=(), repr=False)
    #: Allow-list entries the endpoint's ``api_base`` may resolve to a private address under
    #: (``traces.endpoints.selectors.endpoint_allowed_hosts``), read when the call is prepared.
    allowed_hosts: tuple[str, ...] = ()


@dataclass
class CallRecord:
    """Everything a span stores about one call, filled in as the call proceeds."""

    endpoint: ModelEndpoint
    context: SpanContext
    prompt_version_id: int | None = None
    request: dict[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    latency_ms: float = 0.0
    output: dict[str, Any] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: Decimal | None = None
    price_source: str = ""
    status: str = SpanStatus.OK
    error: str = ""
    error_code: str = ""
    raw_input: dict[str, Any] = field(default_factory=dict)

    ended_at: dt.datetime | None = None

    def mark_started(self) -> None:
        self.started_at = timezone.now()

    def mark_ended(self) -> None:
        """The call is over (for a span written later than that)."""
        self.ended_at = timezone.now()

    def set_answer(
        self, answer: Answer, *, parsed: Any, parse_error: str, cost: Decimal | None, price_source: str
    ) -> None:
        self.output = {
            "text": answer.text,
            "parsed": parsed,
            "tool_calls": [call._asdict() for call in answer.tool_calls],
            "finish_reason": answer.finish_reason,
            "usage_estimated": answer.usage_estimated,
        }
        if parse_error:
            self.output["parse_error"] = parse_error
            self.error_code = "invalid_output"
        if answer.notes:
            self.output["notes"] = answer.notes
        self.usage = answer.usage()
        self.cost_usd, self.price_source = cost, price_source

    def set_error(self, message: str, code: str) -> None:
        self.status, self.error, self.error_code = SpanStatus.ERROR, message, code

    def span_input(self) -> dict[str, Any]:
        """The request as the span shows it (before redaction): never the API key."""
        request = self.request
        if not request:  # failed before the request was built
            return {"model": self.endpoint.model, **self.raw_input}
        shown = {
            "model": request.get("model"),
            "api_base": request.get("api_base", ""),
            "messages": request.get("messages", []),
            "params": {k: v for k, v in request.items() if k not in _HIDDEN_REQUEST_KEYS},
            "structured_output": self.endpoint.structured_output,
        }
        if request.get("tools"):
            shown["tools"] = request["tools"]
        if "schema" in self.raw_input:
            shown["schema"] = self.raw_input["schema"]
        return shown


def prepare(
    endpoint: ModelEndpoint, context: SpanContext | None, *, secret_values: list[str] | None = None
) -> Prepared:
    """Check the call may go ahead and load its API key and the values to redact.

    ``secret_values``: the project's decrypted secrets when the caller already
    has them (:func:`project_secret_values`, e.g. once per run); else they are
    read and decrypted here.

    Raises :class:`GatewayError` (not transient) for an endpoint of another
    project, an inactive endpoint, a trace of another project or an API key
    secret that no longer decrypts.
    """
    if context is not None:
        _check_context(endpoint, context)
    api_key = None
    if endpoint.api_key_secret_id is not None:
        secret = Secret.objects.get(pk=endpoint.api_key_secret_id)
        try:
            api_key = secret_reveal(secret)
        except SecretDecryptError as exc:
            raise GatewayError(str(exc), transient=False, code="secret_unreadable") from None
    if secret_values is None:
        secret_values = project_secret_values(endpoint.project_id)
    values = [*secret_values, *(context.redact if context else ())]
    if api_key:
        values.append(api_key)
    allowed: tuple[str, ...] = ()
    if endpoint.api_base:
        from traces.endpoints.selectors import endpoint_allowed_hosts

        allowed = endpoint_allowed_hosts(endpoint.project_id)
    return Prepared(api_key=api_key, redact_values=tuple(values), allowed_hosts=allowed)


def needs_db_check(context: SpanContext) -> bool:
    """Whether :func:`check_context` may query the database for ``context`` (an unseen trace)."""
    return context.trace_id is not None and (context.trace_id, context.project_id) not in _KNOWN_TRACES


def check_context(endpoint: ModelEndpoint, context: SpanContext) -> None:
    """Raise :class:`GatewayError` unless a call to ``endpoint`` may record a span in ``context``.

    An endpoint of another project, an inactive endpoint and a trace of
    another project are refused; a trace already seen costs no query.
    """
    _check_context(endpoint, context)


def _check_context(endpoint: ModelEndpoint, context: SpanContext) -> None:
    if endpoint.project_id != context.project_id:
        raise GatewayError(
            f"Endpoint {endpoint.slug!r} belongs to another project.", transient=False, code="endpoint_project_mismatch"
        )
    if not endpoint.is_active:
        raise GatewayError(f"Endpoint {endpoint.slug!r} is inactive.", transient=False, code="endpoint_inactive")
    if context.trace_id is not None and not _trace_in_project(context.trace_id, context.project_id):
        raise GatewayError(
            f"Trace {context.trace_id} does not exist in this project.", transient=False, code="bad_trace"
        )


# (trace id, project id) pairs already found in the database. A trace never moves to another project, so a
# found pair stays valid; a run makes one call per LLM step into the same trace. Bounded: cleared when full.
_KNOWN_TRACES: set[tuple[int, int]] = set()
_KNOWN_TRACES_MAX = 4096


def _trace_in_project(trace_id: int, project_id: int) -> bool:
    if (trace_id, project_id) in _KNOWN_TRACES:
        return True
    if not Trace.objects.filter(pk=trace_id, project_id=project_id).exists():
        return False
    if len(_KNOWN_TRACES) >= _KNOWN_TRACES_MAX:
        _KNOWN_TRACES.clear()
    _KNOWN_TRACES.add((trace_id, project_id))
    return True


def project_secret_values(project_id: int) -> list[str]:
    """Decrypted values of every secret of the project, for redaction only.

    Secrets that no longer decrypt are skipped (logged by name, never value).
    """
    values = []
    for name, ciphertext in Secret.objects.filter(project_id=project_id).values_list("name", "ciphertext"):
        try:
            values.append(decrypt(ciphertext))
        except SecretDecryptError:
            log.warning("Secret %r of project %s does not decrypt; it cannot be redacted.", name, project_id)
    return values


def record_span(call: CallRecord, prepared: Prepared | None, *, step_id: int | None = None) -> tuple[int, int]:
    """Save the call's span (creating its trace when the context has none).

    Returns ``(trace_id, span_id)``. Input, output and error are redacted of
    the prepared values and of credential patterns. ``step_id`` overrides
    the context's (a span written with its step, once the step row exists).
    One INSERT when the context has a trace (safe inside the caller's
    transaction, no savepoint); trace and span in one transaction otherwise.
    """
    if call.context.trace_id is not None:
        return call.context.trace_id, _span_create(call, prepared, call.context.trace_id, step_id).pk
    context = call.context
    with transaction.atomic():
        trace_id = Trace.objects.create(
            project_id=context.project_id,
            run_id=context.run_id,
            source=TraceSource.RUN if context.run_id is not None else TraceSource.CALL,
            name=context.name or f"{call.endpoint.slug} call",
            status=call.status if context.run_id is None else "",
        ).pk
        return trace_id, _span_create(call, prepared, trace_id, step_id).pk


def parent_span_id(*, run_id: int | None, step_id: int | None) -> str:
    """The OTel parent span id of a model call in a run: its step's derived span, else the run's ("" alone)."""
    if step_id is not None:
        return derived_span_id("step", step_id)
    if run_id is not None:
        return derived_span_id("run", run_id)
    return ""


def _span_create(call: CallRecord, prepared: Prepared | None, trace_id: int, step_id: int | None) -> Span:
    secrets = prepared.redact_values if prepared else call.context.redact
    ended_at = call.ended_at or timezone.now()
    context = call.context
    step_id = step_id if step_id is not None else context.step_id
    usage = call.usage
    span = Span.objects.create(
        trace_id=trace_id,
        project_id=context.project_id,
        otel_parent_span_id=parent_span_id(run_id=context.run_id, step_id=step_id),
        kind=context.kind,
        name=context.name or call.endpoint.slug,
        model=call.endpoint.model,
        endpoint=call.endpoint if call.endpoint.project_id == context.project_id else None,
        run_id=context.run_id,
        step_id=step_id,
        node_id=context.node_id,
        prompt_version_id=call.prompt_version_id,
        input=redact(call.span_input(), secrets),
        output=redact(call.output, secrets),
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        provider_total_tokens=usage.provider_total_tokens,
        usage_estimated=usage.estimated,
        cost_usd=call.cost_usd,
        price_source=call.price_source,
        latency_ms=call.latency_ms,
        status=call.status,
        error=redact_text(call.error, secrets),
        error_code=call.error_code,
        started_at=call.started_at or ended_at,
        ended_at=ended_at,
    )
    if export_enabled():  # off by default: then not even the trace's OTel id is read
        transaction.on_commit(lambda: _export(span))
    return span


def _export(span: Span) -> None:
    trace_hex = Trace.objects.filter(pk=span.trace_id).values_list("otel_trace_id", flat=True).first()
    if trace_hex:
        export_span(span, trace_hex)
