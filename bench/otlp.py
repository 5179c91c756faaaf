"""``otlp_ingest_spans_per_s``: spans stored per second through the OTLP/HTTP receiver, batches of 500."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bench.common import entry

BATCH = 500
BATCHES = 20


def _batch(n: int) -> bytes:
    """An ExportTraceServiceRequest of ``n`` spans: 50 traces of an agent span, chat spans and tool spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", "bench-app"))
    spans = resource_spans.scope_spans.add().spans
    start = time.time_ns() - 10**9
    trace_id = b""
    root = b""
    for i in range(n):
        if i % 10 == 0:
            trace_id, root = uuid.uuid4().bytes, uuid.uuid4().bytes[:8]
        span = spans.add()
        span.trace_id, span.span_id = trace_id, root if i % 10 == 0 else uuid.uuid4().bytes[:8]
        span.start_time_unix_nano, span.end_time_unix_nano = start + i * 1000, start + i * 1000 + 5 * 10**8
        if i % 10 == 0:
            span.name = "invoke_agent support"
            span.attributes.append(kv("gen_ai.operation.name", "invoke_agent"))
            continue
        span.parent_span_id = root
        if i % 2:
            span.name = "chat gpt-4o-mini"
            span.attributes.extend(
                [
                    kv("gen_ai.operation.name", "chat"),
                    kv("gen_ai.request.model", "gpt-4o-mini"),
                    kv("gen_ai.usage.input_tokens", 420),
                    kv("gen_ai.usage.output_tokens", 96),
                    kv(
                        "gen_ai.input.messages",
                        json.dumps([{"role": "user", "content": f"Question {i} about parcels"}]),
                    ),
                    kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "content": "An answer " * 20}])),
                ]
            )
        else:
            span.name = "execute_tool lookup"
            span.attributes.extend([kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "lookup")])
    return message.SerializeToString()


def bench_otlp_ingest(project: Any, batches: int = BATCHES) -> dict[str, Any]:
    """Post ``batches`` protobuf batches of 500 spans through the receiver in process (Django's test client:
    routing, API key authentication, parsing, checks, redaction, pricing and the bulk insert; no socket)."""
    from django.test import Client

    from bench.api import _api_key
    from traces.models import Span

    raw = _api_key(project)
    client = Client(HTTP_HOST="127.0.0.1")
    bodies = [_batch(BATCH) for _ in range(batches + 1)]
    rates: list[float] = []
    before = Span.objects.filter(project=project).count()
    for n, body in enumerate(bodies):
        started = time.perf_counter()
        response = client.post(
            "/api/v1/otel/v1/traces", body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"OTLP ingest failed: {response.status_code} {response.content[:300]!r}")
        if n:  # the first batch warms caches (imports, the key's lookup)
            rates.append(BATCH / elapsed)
    stored = Span.objects.filter(project=project).count() - before
    assert stored == BATCH * len(bodies), stored
    return entry("otlp_ingest_spans_per_s", "spans/s", rates, batch=BATCH, goal_min=5000)
