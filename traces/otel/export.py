"""OpenTelemetry export of the studio's spans over OTLP/HTTP (off by default).

On when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set (and ``OTEL_SDK_DISABLED`` is not ``true``); every other standard
``OTEL_EXPORTER_OTLP_*`` variable (headers, timeout, compression,
certificate) is read by the OTLP exporter itself, ``OTEL_SERVICE_NAME``
names the service (default ``studio``). Spans leave through the SDK's
``BatchSpanProcessor`` (a background thread): recording a span only queues
it, so the run path waits for no network.

What is exported: every model call span the gateway records (when it is
recorded) and, when a run finishes, its run and step spans (derived from
the rows, :mod:`agents.trace_tree`), with the studio's own OTel ids, so the
collector sees the same tree. Spans ingested through the OTLP receiver are
not exported again (they came from an OTel pipeline; a loop is avoided).

Attributes follow the OpenTelemetry GenAI conventions:
``gen_ai.operation.name`` (the span kind), ``gen_ai.request.model``,
``gen_ai.usage.input_tokens`` (all prompt tokens: fresh + cache read + cache
write), ``gen_ai.usage.output_tokens`` (visible + reasoning),
``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.usage.cache_creation.input_tokens``,
``gen_ai.usage.reasoning.output_tokens``, ``error.type``; plus
``studio.cost_usd`` (float USD, absent when the price is unknown),
``studio.price_source``, ``studio.prompt_version``, ``studio.run_id``,
``studio.step_id``, ``studio.node_id``, ``studio.project_id``,
``studio.usage_estimated``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import random
import threading
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_provider: Any = None
_configured = False

# The ids the next span gets (the studio's own), read by the id generator below.
_next_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("studio_otel_ids", default=None)


def export_enabled() -> bool:
    """Whether spans are exported (an OTLP endpoint is configured in the environment)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _tracer_provider() -> Any:
    """The SDK provider with the OTLP/HTTP exporter, built once per process (None when export is off)."""
    global _provider, _configured
    if _configured:
        return _provider
    with _lock:
        if _configured:
            return _provider
        if export_enabled():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.id_generator import IdGenerator

            class StudioIds(IdGenerator):
                """The studio's own ids for the span being exported; random ones otherwise."""

                def generate_span_id(self) -> int:
                    ids = _next_ids.get()
                    return ids[1] if ids else random.getrandbits(64)

                def generate_trace_id(self) -> int:
                    ids = _next_ids.get()
                    return ids[0] if ids else random.getrandbits(128)

            service = os.environ.get("OTEL_SERVICE_NAME") or "studio"
            provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=StudioIds())
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _provider = provider
        _configured = True
        return _provider


def reset_for_tests() -> None:
    """Shut the provider down (flushing what is queued) and read the environment again on next use."""
    global _provider, _configured
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider, _configured = None, False


def flush(timeout_ms: int = 10_000) -> bool:
    """Send what is queued now (True when all of it went out in time)."""
    provider = _tracer_provider()
    return True if provider is None else bool(provider.force_flush(timeout_ms))


def _ns(value: dt.datetime | None) -> int | None:
    return int(value.timestamp() * 1e9) if value is not None else None


def emit(
    *,
    trace_hex: str,
    span_hex: str,
    parent_hex: str,
    name: str,
    kind: str,
    started_at: dt.datetime,
    ended_at: dt.datetime | None,
    attributes: dict[str, Any],
    error: str = "",
) -> None:
    """Queue one finished span for export with the given OTel ids (hex). No-op when export is off.

    ``attributes`` values that are None are left out. Never raises: an
    export problem is logged, the caller's work goes on.
    """
    provider = _tracer_provider()
    if provider is None:
        return
    try:
        from opentelemetry import trace as otel_trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

        tracer = provider.get_tracer("studio")
        trace_id = int(trace_hex, 16)
        context = None
        if parent_hex:
            parent = SpanContext(
                trace_id=trace_id,
                span_id=int(parent_hex, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            context = otel_trace.set_span_in_context(NonRecordingSpan(parent))
        token = _next_ids.set((trace_id, int(span_hex, 16)))
        try:
            span = tracer.start_span(
                name or kind,
                context=context,
                kind=otel_trace.SpanKind.CLIENT if kind in _CLIENT_KINDS else otel_trace.SpanKind.INTERNAL,
                attributes={"gen_ai.operation.name": kind, **{k: v for k, v in attributes.items() if v is not None}},
                start_time=_ns(started_at),
            )
        finally:
            _next_ids.reset(token)
        if error:
            span.set_status(Status(StatusCode.ERROR, error[:1000]))
        span.end(end_time=_ns(ended_at or started_at))
    except Exception:  # export must never break recording
        log.exception("Could not export span %s", span_hex)


_CLIENT_KINDS = frozenset({"chat", "text_completion", "embeddings", "execute_tool", "http", "judge"})


def span_attributes(span: Any) -> dict[str, Any]:
    """GenAI + studio attributes of a stored :class:`~traces.models.Span` (see the module doc)."""
    attributes: dict[str, Any] = {
        "gen_ai.request.model": span.model or None,
        "gen_ai.usage.input_tokens": span.prompt_tokens,
        "gen_ai.usage.output_tokens": span.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": span.cache_read_tokens or None,
        "gen_ai.usage.cache_creation.input_tokens": span.cache_write_tokens or None,
        "gen_ai.usage.reasoning.output_tokens": span.reasoning_tokens or None,
        "error.type": span.error_code or None,
        "studio.cost_usd": float(span.cost_usd) if span.cost_usd is not None else None,
        "studio.price_source": span.price_source or None,
        "studio.prompt_version": span.prompt_version_id,
        "studio.run_id": span.run_id,
        "studio.step_id": span.step_id,
        "studio.node_id": span.node_id or None,
        "studio.project_id": span.project_id,
        "studio.usage_estimated": span.usage_estimated,
    }
    return attributes


def export_span(span: Any, trace_hex: str) -> None:
    """Queue a stored model-call span for export (no-op when export is off)."""
    if not export_enabled():
        return
    emit(
        trace_hex=trace_hex,
        span_hex=span.otel_span_id,
        parent_hex=span.otel_parent_span_id,
        name=span.name,
        kind=span.kind,
        started_at=span.started_at,
        ended_at=span.ended_at,
        attributes=span_attributes(span),
        error=span.error if span.status == "error" else "",
    )
