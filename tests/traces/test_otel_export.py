"""OpenTelemetry export: a run's spans reach a local OTLP/HTTP receiver with GenAI and studio attributes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agents.models import Run, RunStatus, Workflow
from agents.runtime import run_execute
from agents.services.runs import run_start
from tests.conftest import demo_graph
from tests.fixtures.services import free_port
from traces.models import Span, Trace
from traces.otel import export
from traces.otel.receiver import any_value
from traces.tokens import derived_span_id

COLLECTOR_PORT = free_port()  # a free port, taken when the module loads


class Collector(ThreadingHTTPServer):
    """A tiny OTLP/HTTP trace receiver: keeps every ExportTraceServiceRequest it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", COLLECTOR_PORT), _Handler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    def spans(self) -> list[Any]:
        return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.server.requests.append(message)
        self.server.content_types.append(self.headers.get("Content-Type", ""))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{COLLECTOR_PORT}/v1/traces")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "studio-test")
    export.reset_for_tests()
    try:
        yield server
    finally:
        export.reset_for_tests()
        server.shutdown()
        server.server_close()


def attrs(span: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in span.attributes}


def test_export_is_off_without_an_otlp_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    export.reset_for_tests()

    assert not export.export_enabled() and export._tracer_provider() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not export.export_enabled()


@pytest.mark.django_db(transaction=True)
@pytest.mark.model
def test_a_runs_spans_are_exported_with_its_ids_and_genai_attributes(
    project, alice, local_endpoint, local_model, collector, monkeypatch
):
    # The test executes the run itself: a Celery worker of this session must not claim it first.
    monkeypatch.setattr("agents.services.runs.run_dispatch", lambda run_id: None)
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    run = run_start(workflow=workflow, user=alice, inputs={"question": "What is 2+2?"}, session_id="s-1")

    async def main() -> None:
        try:
            await run_execute(run.pk)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert export.flush()

    trace_hex = Trace.objects.get(pk=run.trace_id).otel_trace_id
    exported = {s.span_id.hex(): s for s in collector.spans()}
    assert collector.content_types[0] == "application/x-protobuf"
    assert {s.trace_id.hex() for s in exported.values()} == {trace_hex}
    service = attrs(collector.requests[0].resource_spans[0].resource)
    assert service["service.name"] == "studio-test"
    root = exported[derived_span_id("run", run.pk)]
    assert attrs(root)["gen_ai.operation.name"] == "workflow" and attrs(root)["studio.run_id"] == run.pk
    for stored in Span.objects.filter(run_id=run.pk):
        span = exported[stored.otel_span_id]
        got = attrs(span)
        assert span.parent_span_id.hex() == stored.otel_parent_span_id == derived_span_id("step", stored.step_id)
        assert span.parent_span_id.hex() in exported  # the step span went out too
        assert got["gen_ai.operation.name"] == "chat" and got["gen_ai.request.model"] == "openai/smollm2"
        assert got["gen_ai.usage.input_tokens"] == stored.prompt_tokens > 0
        assert got["gen_ai.usage.output_tokens"] == stored.completion_tokens > 0
        assert got["studio.cost_usd"] == 0.0 and got["studio.run_id"] == run.pk
        assert got.get("studio.prompt_version") == stored.prompt_version_id
        assert span.start_time_unix_nano == int(stored.started_at.timestamp() * 1e9)
