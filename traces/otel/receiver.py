"""The OTLP/HTTP trace receiver: parse, check and store an ``ExportTraceServiceRequest``.

Bodies are OTLP protobuf (``application/x-protobuf``) or OTLP JSON
(``application/json``: ids are hex strings, as the OTLP spec says, not the
base64 of the protobuf JSON mapping), optionally gzip-compressed. A batch
is checked whole before anything is written, then stored in one transaction
with bulk inserts: a refused batch stores nothing.

Mapping (OpenTelemetry GenAI semantic conventions): ``gen_ai.operation.name``
→ span kind; ``gen_ai.request.model``/``gen_ai.response.model`` → model;
``gen_ai.usage.input_tokens`` (all prompt tokens, cached included) and
``gen_ai.usage.output_tokens`` (reasoning included), with
``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``
and ``gen_ai.usage.reasoning.output_tokens`` → the disjoint token parts;
``gen_ai.input.messages``/``gen_ai.output.messages`` (or the older
``gen_ai.prompt``/``gen_ai.completion``) → the span's input and output;
``session.id`` (or ``gen_ai.conversation.id``) → the trace's session. A
model call is priced with the project's endpoint of the same model string
when that endpoint has prices, else its cost is unknown. Every other
attribute is kept in ``Span.attributes``. Everything is redacted of the
project's secrets and credential patterns.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from studio.lib.jsonsafe import JsonValueError, loads_strict
from traces.models import MODEL_CALL_KINDS, ModelEndpoint, Span, SpanKind, SpanStatus, Trace, TraceSource
from traces.pricing import price_usage
from traces.recording import project_secret_values
from traces.redaction import Redactor, _json_safe
from traces.tokens import TokenUsage

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: ``gen_ai.operation.name`` values stored as that kind.
GENAI_KINDS = frozenset(
    {
        SpanKind.CHAT,
        SpanKind.TEXT_COMPLETION,
        SpanKind.EMBEDDINGS,
        SpanKind.EXECUTE_TOOL,
        SpanKind.INVOKE_AGENT,
        SpanKind.CREATE_AGENT,
    }
)
_INPUT_KEYS = ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.system_instructions")
_OUTPUT_KEYS = ("gen_ai.output.messages", "gen_ai.completion")
_STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


class OtlpRefused(Exception):
    """The batch is refused whole. ``status``: HTTP status (400, 403, 413, 415); ``code``: stable error code."""

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(frozen=True)
class Limits:
    """What one request may hold. Bytes; counts; seconds."""

    max_body_bytes: int
    max_spans: int
    max_attributes: int
    max_attribute_bytes: int
    max_future_skew_s: float

    @classmethod
    def from_settings(cls) -> Limits:
        """The limits of the ``STUDIO_OTLP_*`` settings (see README "Observability")."""
        return cls(
            max_body_bytes=settings.STUDIO_OTLP_MAX_BODY_BYTES,
            max_spans=settings.STUDIO_OTLP_MAX_SPANS,
            max_attributes=settings.STUDIO_OTLP_MAX_ATTRIBUTES,
            max_attribute_bytes=settings.STUDIO_OTLP_MAX_ATTRIBUTE_BYTES,
            max_future_skew_s=settings.STUDIO_OTLP_MAX_FUTURE_SKEW_S,
        )


@dataclass
class IngestResult:
    """What a stored batch held: counts of spans and of traces (new or appended to)."""

    spans: int
    traces: int


@dataclass
class _Parsed:
    trace_hex: str
    span: SimpleNamespace  # a span row to COPY: every concrete column of Span by attname
    service_name: str
    session_id: str
    is_root: bool
    usage: TokenUsage | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _BatchRedactor(Redactor):
    """A :class:`Redactor` that remembers its answers for short strings: a batch repeats the same
    attribute keys and values (``gen_ai.operation.name``, ``chat``, a model name) on every span."""

    MEMO_MAX_LEN = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[str, str] = {}

    def text(self, text: str) -> str:
        if len(text) > self.MEMO_MAX_LEN:
            return super().text(text)
        found = self._memo.get(text)
        if found is None:
            found = self._memo[text] = super().text(text)
        return found


_DEFAULTS: dict[str, Any] = {}


def _row(**values: Any) -> SimpleNamespace:
    """A span row (every column of :class:`Span` by attname): cheaper than a model instance per span."""
    if not _DEFAULTS:
        for f in Span._meta.concrete_fields:
            if not f.primary_key:
                _DEFAULTS[f.attname] = None if f.null and not f.has_default() else f.get_default()
    return SimpleNamespace(**{**_DEFAULTS, **values})


def decode_body(body: bytes, *, content_type: str, content_encoding: str, limits: Limits) -> ExportTraceServiceRequest:
    """The request message of an OTLP/HTTP body. Raises :class:`OtlpRefused`.

    ``content_type``: ``application/x-protobuf`` or ``application/json``
    (parameters ignored); ``content_encoding``: "" / ``identity`` or ``gzip``.
    """
    if len(body) > limits.max_body_bytes:
        raise OtlpRefused(f"The body is larger than {limits.max_body_bytes} bytes.", code="too_large", status=413)
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limits.max_body_bytes)
    elif encoding not in ("", "identity"):
        raise OtlpRefused(
            f"Content-Encoding {encoding!r} is not supported (gzip or none).", code="unsupported_encoding", status=415
        )
    media = content_type.split(";", 1)[0].strip().lower()
    message = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise OtlpRefused(
                f"The body is not a valid OTLP protobuf ExportTraceServiceRequest ({exc}).", code="malformed"
            ) from None
        return message
    if media == JSON:
        try:
            data = loads_strict(body)  # no lone surrogates, NaN or overflow reach protobuf's parser
        except (UnicodeDecodeError, json.JSONDecodeError, JsonValueError, RecursionError) as exc:
            raise OtlpRefused(f"The body is not valid JSON ({exc}).", code="malformed") from None
        if not isinstance(data, dict):
            raise OtlpRefused("The body must be a JSON object (ExportTraceServiceRequest).", code="malformed")
        try:
            json_format.ParseDict(_hex_ids_to_base64(data), message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError, UnicodeError, SystemError) as exc:
            # SystemError: upb's C lookup of a field name it cannot encode (belt and braces after loads_strict).
            raise OtlpRefused(
                f"The body is not a valid OTLP JSON ExportTraceServiceRequest ({exc}).", code="malformed"
            ) from None
        return message
    raise OtlpRefused(f"Content-Type must be {PROTOBUF} or {JSON}.", code="unsupported_media_type", status=415)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpRefused(f"The gzip body does not decompress ({exc}).", code="malformed") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise OtlpRefused(f"The decompressed body is larger than {limit} bytes.", code="too_large", status=413)
    return out


def _hex_ids_to_base64(data: Any) -> Any:
    """OTLP JSON carries trace and span ids as hex; the protobuf JSON mapping wants base64."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id") and isinstance(
                value, str
            ):
                try:
                    out[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpRefused(f"{key} {value[:40]!r} is not hex.", code="bad_id") from None
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(data, list):
        return [_hex_ids_to_base64(item) for item in data]
    return data


def any_value(value: Any, depth: int = 0) -> Any:
    """A Python value of an OTLP ``AnyValue`` (bytes as hex, arrays as lists, kvlists as dicts)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values] if depth < 8 else "[too deep]"
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values} if depth < 8 else {}
    if which == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, which)


def _attributes(pairs: Any, where: str, limits: Limits) -> dict[str, Any]:
    if len(pairs) > limits.max_attributes:
        raise OtlpRefused(
            f"{where} has {len(pairs)} attributes (at most {limits.max_attributes}).",
            code="too_many_attributes",
            status=413,
        )
    out: dict[str, Any] = {}
    for pair in pairs:
        size = pair.value.ByteSize() + len(pair.key)
        if size > limits.max_attribute_bytes:
            raise OtlpRefused(
                f"{where}: attribute {pair.key[:100]!r} is {size} bytes (at most {limits.max_attribute_bytes}).",
                code="attribute_too_large",
                status=413,
            )
        out[pair.key] = any_value(pair.value)
    return out


def _ns_to_datetime(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def _int_attr(attrs: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value >= 0:
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _usage(attrs: dict[str, Any]) -> TokenUsage | None:
    prompt = _int_attr(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    completion = _int_attr(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    if prompt is None and completion is None:
        return None
    return TokenUsage.from_totals(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        cache_read_tokens=_int_attr(
            attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"
        )
        or 0,
        cache_write_tokens=_int_attr(
            attrs, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"
        )
        or 0,
        reasoning_tokens=_int_attr(attrs, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens") or 0,
        provider_total_tokens=_int_attr(attrs, "gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
        estimated=attrs.get("studio.usage_estimated") is True,
    )


def _kind(attrs: dict[str, Any]) -> str:
    operation = attrs.get("gen_ai.operation.name")
    if operation in GENAI_KINDS:
        return str(operation)
    studio_kind = attrs.get("studio.span_kind")
    if studio_kind in SpanKind.values:
        return str(studio_kind)
    if "http.request.method" in attrs or "http.method" in attrs:
        return SpanKind.HTTP
    return SpanKind.INTERNAL


def parse_spans(
    message: ExportTraceServiceRequest, *, project_id: int, project_slug: str, limits: Limits, now: dt.datetime
) -> list[_Parsed]:
    """Check every span of ``message`` and build its unsaved :class:`Span`. Raises :class:`OtlpRefused`.

    Refused: more than ``limits.max_spans`` spans (413), a trace id that is
    not 16 bytes or a span id that is not 8 (or all zero), a missing or
    future start time (more than ``max_future_skew_s`` ahead of ``now``), an
    end before the start, too many or too large attributes (413), a
    ``studio.project`` resource attribute naming another project (403).
    """
    total = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if total > limits.max_spans:
        raise OtlpRefused(
            f"The batch has {total} spans (at most {limits.max_spans}).", code="too_many_spans", status=413
        )
    latest_ns = int((now.timestamp() + limits.max_future_skew_s) * 1e9)
    parsed: list[_Parsed] = []
    index = 0
    for r_index, resource_spans in enumerate(message.resource_spans):
        resource = _attributes(resource_spans.resource.attributes, f"resource {r_index}", limits)
        claimed = resource.get("studio.project")
        if claimed is not None and claimed != project_slug:
            raise OtlpRefused(
                "The spans name another project (resource attribute studio.project); "
                "this API key belongs to another project.",
                code="wrong_project",
                status=403,
            )
        service = str(resource.get("service.name") or "")[:200]
        for scope_spans in resource_spans.scope_spans:
            for otel_span in scope_spans.spans:
                parsed.append(_parse_span(otel_span, index, resource, service, project_id, limits, latest_ns))
                index += 1
    return parsed


def _parse_span(
    otel_span: Any,
    index: int,
    resource: dict[str, Any],
    service: str,
    project_id: int,
    limits: Limits,
    latest_ns: int,
) -> _Parsed:
    where = f"span {index}"
    trace_id, span_id, parent_id = otel_span.trace_id, otel_span.span_id, otel_span.parent_span_id
    if len(trace_id) != 16 or not any(trace_id):
        raise OtlpRefused(f"{where}: traceId must be 16 bytes, not all zero.", code="bad_id")
    if len(span_id) != 8 or not any(span_id):
        raise OtlpRefused(f"{where}: spanId must be 8 bytes, not all zero.", code="bad_id")
    if parent_id and len(parent_id) != 8:
        raise OtlpRefused(f"{where}: parentSpanId must be 8 bytes or empty.", code="bad_id")
    start, end = otel_span.start_time_unix_nano, otel_span.end_time_unix_nano or otel_span.start_time_unix_nano
    if start <= 0:
        raise OtlpRefused(f"{where}: startTimeUnixNano is missing.", code="bad_time")
    if start > latest_ns or end > latest_ns:
        raise OtlpRefused(f"{where}: its timestamps are in the future.", code="future_time")
    if end < start:
        raise OtlpRefused(f"{where}: it ends before it starts.", code="bad_time")
    attrs = _attributes(otel_span.attributes, where, limits)
    if len(otel_span.events) > limits.max_attributes:
        raise OtlpRefused(
            f"{where} has {len(otel_span.events)} events (at most {limits.max_attributes}).",
            code="too_many_attributes",
            status=413,
        )
    events = [
        {
            "name": event.name[:200],
            "time_unix_nano": event.time_unix_nano,
            "attributes": _attributes(event.attributes, f"{where} event {n}", limits),
        }
        for n, event in enumerate(otel_span.events)
    ]
    input_value = next((attrs.pop(key) for key in _INPUT_KEYS if key in attrs), None)
    output_value = next((attrs.pop(key) for key in _OUTPUT_KEYS if key in attrs), None)
    kind = _kind(attrs)
    usage = _usage(attrs)
    failed = otel_span.status.code == _STATUS_ERROR
    extra = {"resource": resource, **({"events": events} if events else {})}
    span = _row(
        project_id=project_id,
        otel_span_id=span_id.hex(),
        otel_parent_span_id=parent_id.hex() if parent_id and any(parent_id) else "",
        kind=kind,
        name=otel_span.name[:200],
        model=str(attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model") or "")[:200],
        node_id=str(attrs.get("studio.node_id") or "")[:64],
        input={"messages": _json_or_text(input_value)} if input_value is not None else {},
        output={"messages": _json_or_text(output_value)} if output_value is not None else {},
        attributes={**attrs, **extra},
        latency_ms=(end - start) / 1e6,
        status=SpanStatus.ERROR if failed else SpanStatus.OK,
        error=otel_span.status.message[:4000] if failed else "",
        error_code=str(attrs.get("error.type") or "")[:32],
        started_at=_ns_to_datetime(start),
        ended_at=_ns_to_datetime(end),
    )
    if usage is not None:
        span.input_tokens, span.cache_read_tokens = usage.input_tokens, usage.cache_read_tokens
        span.cache_write_tokens, span.output_tokens = usage.cache_write_tokens, usage.output_tokens
        span.reasoning_tokens, span.provider_total_tokens = usage.reasoning_tokens, usage.provider_total_tokens
        span.usage_estimated = usage.estimated
    session = attrs.get("session.id") or attrs.get("gen_ai.conversation.id") or resource.get("session.id") or ""
    return _Parsed(
        trace_hex=trace_id.hex(),
        span=span,
        service_name=service,
        session_id=str(session)[:200],
        is_root=not span.otel_parent_span_id,
        usage=usage,
    )


def _price(spans: list[_Parsed], project_id: int) -> None:
    """Price model calls with the project's priced endpoint of the same model string; else unknown."""
    by_model: dict[str, ModelEndpoint] = {}
    for endpoint in ModelEndpoint.objects.filter(project_id=project_id, is_active=True).order_by("pk"):
        if endpoint.has_price:
            by_model.setdefault(endpoint.model, endpoint)
            by_model.setdefault(endpoint.model.split("/", 1)[-1], endpoint)
    for item in spans:
        span = item.span
        if span.kind not in MODEL_CALL_KINDS:
            continue
        endpoint = by_model.get(span.model)
        if endpoint is None or item.usage is None:
            span.cost_usd, span.price_source = None, "unknown"
            continue
        span.cost_usd, span.price_source = price_usage(endpoint, item.usage)
        span.endpoint_id = endpoint.pk


def claimed_project(message: ExportTraceServiceRequest) -> str | None:
    """The project slug the batch names in a ``studio.project`` resource attribute, if any.

    Raises :class:`OtlpRefused` (400) when resources name different projects.
    """
    claimed = set()
    for resource_spans in message.resource_spans:
        for pair in resource_spans.resource.attributes:
            if pair.key == "studio.project":
                claimed.add(str(any_value(pair.value)))
    if len(claimed) > 1:
        raise OtlpRefused("The resources name different projects (studio.project).", code="mixed_projects")
    return claimed.pop() if claimed else None


def ingest(
    message: ExportTraceServiceRequest, *, project_id: int, project_slug: str, limits: Limits | None = None
) -> IngestResult:
    """Check and store a decoded OTLP trace export (:func:`decode_body`) for a project, all or nothing.

    The caller has checked the principal may ``run`` in the project. Spans
    go into the project's trace of their OTel trace id (created as an
    ``external`` trace, or appended to). Raises :class:`OtlpRefused` before
    anything is written.
    """
    limits = limits or Limits.from_settings()
    parsed = parse_spans(message, project_id=project_id, project_slug=project_slug, limits=limits, now=timezone.now())
    if not parsed:
        return IngestResult(spans=0, traces=0)
    _price(parsed, project_id)
    redactor = _BatchRedactor(project_secret_values(project_id), patterns=True)  # one for the batch: built once
    for item in parsed:
        span = item.span
        span.input, span.output = redactor.value(_json_safe(span.input)), redactor.value(_json_safe(span.output))
        span.attributes = redactor.value(_json_safe(span.attributes))
        span.error = redactor.text(span.error) if span.error else ""
    by_trace: dict[str, list[_Parsed]] = defaultdict(list)
    for item in parsed:
        by_trace[item.trace_hex].append(item)
    with transaction.atomic():
        trace_ids = _traces_for(project_id, by_trace)
        for trace_hex, items in by_trace.items():
            for item in items:
                item.span.trace_id = trace_ids[trace_hex]
        _insert_spans([item.span for item in parsed])
    return IngestResult(spans=len(parsed), traces=len(by_trace))


#: The columns :func:`_insert_spans` copies (every column of ``traces_span`` but ``id``).
_COPY_FIELDS = [f for f in Span._meta.concrete_fields if not f.primary_key]


def _insert_spans(spans: list[SimpleNamespace]) -> None:
    """Insert ``spans`` in the current transaction: PostgreSQL ``COPY`` (several times faster than a
    multi-row INSERT built by the ORM), ``bulk_create`` on other databases."""
    connection = connections[router.db_for_write(Span)]
    if connection.vendor != "postgresql":
        Span.objects.bulk_create([Span(**vars(span)) for span in spans], batch_size=500)
        return
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _COPY_FIELDS)
    table = connection.ops.quote_name(Span._meta.db_table)
    fields = [(f.attname, f.get_internal_type() == "JSONField") for f in _COPY_FIELDS]
    dumps = json.dumps
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for span in spans:
            values = vars(span)
            copy.write_row(
                [
                    dumps(values[name], ensure_ascii=False) if is_json and values[name] is not None else values[name]
                    for name, is_json in fields
                ]
            )


def _traces_for(project_id: int, by_trace: dict[str, list[_Parsed]]) -> dict[str, int]:
    """Primary keys of the project's traces for these OTel ids, creating the missing ones (race-safe)."""
    rows = []
    for trace_hex, items in by_trace.items():
        root = next((item for item in items if item.is_root), items[0])
        rows.append(
            Trace(
                project_id=project_id,
                otel_trace_id=trace_hex,
                source=TraceSource.EXTERNAL,
                service_name=root.service_name,
                session_id=next((item.session_id for item in items if item.session_id), ""),
                name=(root.span.name or root.service_name)[:200],
                status=SpanStatus.ERROR if any(i.span.status == SpanStatus.ERROR for i in items) else SpanStatus.OK,
                started_at=min(item.span.started_at for item in items),
                ended_at=max(item.span.ended_at or item.span.started_at for item in items),
            )
        )
    ids = list(by_trace)
    existing = dict(
        Trace.objects.filter(project_id=project_id, otel_trace_id__in=ids).values_list("otel_trace_id", "pk")
    )
    missing = [row for row in rows if row.otel_trace_id not in existing]
    if missing:
        Trace.objects.bulk_create(missing, ignore_conflicts=True)  # a concurrent batch may create one first
        created = Trace.objects.filter(
            project_id=project_id, otel_trace_id__in=[row.otel_trace_id for row in missing]
        ).values_list("otel_trace_id", "pk")
        found = {**existing, **dict(created)}
    else:
        found = existing
    for row in rows:
        if row.otel_trace_id not in existing:
            continue
        pk = existing[row.otel_trace_id]  # spans of a trace seen before: widen its time range, mark an error
        Trace.objects.filter(pk=pk, started_at__gt=row.started_at).update(started_at=row.started_at)
        Trace.objects.filter(pk=pk, ended_at__lt=row.ended_at).update(ended_at=row.ended_at)
        if row.status == SpanStatus.ERROR:
            Trace.objects.filter(pk=pk, source=TraceSource.EXTERNAL).update(status=SpanStatus.ERROR)
    return found
