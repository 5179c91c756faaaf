"""The OTLP/HTTP receiver: protobuf and JSON in, spans of the key's project out; bad input refused whole."""

from __future__ import annotations

import gzip
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtelSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from studio.models import ApiKey, Membership, Role
from tests.conftest import ProjectFactory
from traces.models import ModelEndpoint, Span, SpanKind, Trace, TraceSource
from traces.selectors import span_tree

pytestmark = pytest.mark.django_db
URL = "/api/v1/otel/v1/traces"
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ROOT, CHAT, TOOL = (
    bytes.fromhex("b7ad6b7169203331"),
    bytes.fromhex("00f067aa0ba902b7"),
    bytes.fromhex("1a2b3c4d5e6f7081"),
)


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def otel_span(
    span_id: bytes,
    parent: bytes,
    name: str,
    attrs: dict[str, Any],
    *,
    start_s: float | None = None,
    trace_id: bytes = TRACE,
    error: bool = False,
) -> OtelSpan:
    start = int((start_s if start_s is not None else time.time() - 5) * 1e9)
    return OtelSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 250_000_000,
        attributes=[kv(k, v) for k, v in attrs.items()],
        status=Status(
            code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK, message="boom" if error else ""
        ),
    )


def export(spans: list[OtelSpan], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    rs = message.resource_spans.add()
    rs.resource.attributes.extend(kv(k, v) for k, v in {"service.name": "my-app", **(resource or {})}.items())
    rs.scope_spans.add().spans.extend(spans)
    return message


def agent_trace() -> list[OtelSpan]:
    return [
        otel_span(ROOT, b"", "invoke_agent support", {"gen_ai.operation.name": "invoke_agent", "session.id": "s-9"}),
        otel_span(
            CHAT,
            ROOT,
            "chat gpt-4o-mini",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 500,
                "gen_ai.usage.cache_read.input_tokens": 400,
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": "Where is my parcel?"}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "On its way."}]),
            },
        ),
        otel_span(
            TOOL,
            CHAT,
            "execute_tool track",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "track"},
            error=True,
        ),
    ]


@pytest.fixture
def key(project, alice) -> str:  # type: ignore[no-untyped-def]
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="otel", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.RUNNER, user=alice
    )
    return raw


def post(raw_key: str, body: bytes, content_type: str = "application/x-protobuf", **extra: Any) -> Any:
    return Client().post(URL, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {raw_key}", **extra)


def test_a_protobuf_export_is_stored_as_an_external_trace_with_its_tree_tokens_and_price(project, key):
    ModelEndpoint.objects.create(
        project=project,
        slug="mini",
        name="mini",
        model="openai/gpt-4o-mini",
        input_price_per_mtok=Decimal("0.15"),
        output_price_per_mtok=Decimal("0.60"),
        cached_input_price_per_mtok=Decimal("0.075"),
    )

    response = post(key, export(agent_trace()).SerializeToString())

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(response.content)
    trace = Trace.objects.get(project=project)
    assert (trace.otel_trace_id, trace.source, trace.service_name) == (TRACE.hex(), TraceSource.EXTERNAL, "my-app")
    assert (trace.session_id, trace.status, trace.name) == ("s-9", "error", "invoke_agent support")
    (root,) = span_tree(trace)
    assert (root.kind, root.span_id) == (SpanKind.INVOKE_AGENT, ROOT.hex())
    (chat,) = root.children
    (tool,) = chat.children
    assert (chat.kind, tool.kind, tool.status) == ("chat", "execute_tool", "error")
    span = chat.span
    assert (span.input_tokens, span.cache_read_tokens, span.output_tokens) == (600, 400, 500)
    # 600 fresh * 0.15e-6 + 400 cached * 0.075e-6 + 500 * 0.60e-6: the cached tokens priced once
    assert (span.cost_usd, span.price_source, span.endpoint.slug) == (Decimal("0.00042"), "endpoint", "mini")
    assert span.input == {"messages": [{"role": "user", "content": "Where is my parcel?"}]}
    assert span.output["messages"][0]["content"] == "On its way."
    assert span.attributes["resource"]["service.name"] == "my-app"
    assert tool.span.error == "boom" and tool.span.cost_usd is None


def test_otlp_json_with_hex_ids_and_gzip_is_accepted_and_an_unknown_model_has_an_unknown_price(project, key):
    start = int((time.time() - 3) * 1e9)
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": CHAT.hex(),
                                "name": "chat",
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 10**8),
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "mystery-1"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "3"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }

    response = post(key, gzip.compress(json.dumps(body).encode()), "application/json", HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200, response.content
    assert response.json()["spans"] == 1
    span = Span.objects.get(project=project)
    assert (span.otel_span_id, span.model, span.input_tokens, span.output_tokens) == (CHAT.hex(), "mystery-1", 12, 3)
    assert (span.cost_usd, span.price_source) == (None, "unknown")


def test_spans_of_one_trace_sent_in_two_batches_land_in_one_trace(project, key):
    first, second, third = agent_trace()
    assert post(key, export([first]).SerializeToString()).status_code == 200
    assert post(key, export([second, third]).SerializeToString()).status_code == 200

    trace = Trace.objects.get(project=project)
    assert trace.spans.count() == 3 and trace.status == "error"
    assert [node.span_id for node in span_tree(trace)] == [ROOT.hex()]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f garbage", "application/x-protobuf", 400, "malformed"),
        (b"{not json", "application/json", 400, "malformed"),
        (b"[]", "application/json", 400, "malformed"),
        (b"hello", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_a_malformed_body_is_refused_with_a_clear_4xx(project, key, body, content_type, status, code):
    response = post(key, body, content_type)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert "detail" in response.json() and not Span.objects.exists() and not Trace.objects.exists()


def test_an_oversized_batch_stores_nothing(project, key, settings):
    settings.STUDIO_OTLP_MAX_SPANS = 2
    response = post(key, export(agent_trace()).SerializeToString())

    assert (response.status_code, response.json()["code"]) == (413, "too_many_spans")
    assert not Span.objects.exists() and not Trace.objects.exists()


def test_a_body_over_the_byte_limit_is_refused_before_it_is_read(project, key, settings):
    settings.STUDIO_OTLP_MAX_BODY_BYTES = 100
    response = post(key, export(agent_trace()).SerializeToString())

    assert (response.status_code, response.json()["code"]) == (413, "too_large")


def test_a_timestamp_in_the_future_refuses_the_whole_batch(project, key):
    spans = [*agent_trace(), otel_span(bytes.fromhex("99" * 8), ROOT, "late", {}, start_s=time.time() + 3600)]
    response = post(key, export(spans).SerializeToString())

    assert (response.status_code, response.json()["code"]) == (400, "future_time")
    assert "span 3" in response.json()["detail"] and not Span.objects.exists()


def test_a_huge_attribute_refuses_the_whole_batch(project, key):
    spans = [*agent_trace(), otel_span(bytes.fromhex("98" * 8), ROOT, "big", {"blob": "x" * 70_000})]
    response = post(key, export(spans).SerializeToString())

    assert (response.status_code, response.json()["code"]) == (413, "attribute_too_large")
    assert "'blob'" in response.json()["detail"] and not Span.objects.exists()


def test_bad_ids_are_refused(project, key):
    response = post(key, export([otel_span(b"\x00" * 8, b"", "zero", {})]).SerializeToString())

    assert (response.status_code, response.json()["code"]) == (400, "bad_id")


def test_a_key_of_another_project_is_refused_and_stores_nothing(project, alice, key):
    other = ProjectFactory(slug="other", name="Other")
    Membership.objects.create(project=other, user=alice, role=Role.OWNER)
    body = export(agent_trace(), resource={"studio.project": "other"}).SerializeToString()

    named_by_resource = post(key, body)
    named_by_header = post(key, export(agent_trace()).SerializeToString(), HTTP_X_STUDIO_PROJECT="other")

    assert named_by_resource.status_code == named_by_header.status_code == 404
    assert not Span.objects.exists() and not Trace.objects.exists()


def test_a_viewer_key_may_not_write_and_anonymous_is_401(project, alice):
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="ro", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.VIEWER, user=alice
    )

    assert post(raw, export(agent_trace()).SerializeToString()).status_code == 403
    anonymous = Client().post(URL, export(agent_trace()).SerializeToString(), content_type="application/x-protobuf")
    assert anonymous.status_code == 401 and not Span.objects.exists()


def test_secrets_and_credentials_in_ingested_spans_are_redacted(project, key):
    from studio.crypto import secret_create

    secret_create(project=project, name="CRM_TOKEN", value="crm-token-4711-xyz")
    span = otel_span(
        CHAT,
        b"",
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "use crm-token-4711-xyz please"}]),
            "http.request.header.authorization": "Bearer sk-live-abcdefghijklmnopqrstuv",
        },
    )

    assert post(key, export([span]).SerializeToString()).status_code == 200

    stored = Span.objects.get(project=project)
    assert "crm-token-4711-xyz" not in json.dumps(stored.input) and "[REDACTED]" in json.dumps(stored.input)
    assert "sk-live-abcdefghijklmnopqrstuv" not in json.dumps(stored.attributes)
