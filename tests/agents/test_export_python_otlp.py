"""An exported Python script run against the local model sends its trace to the studio's OTLP receiver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.export_python import export_python
from agents.services import workflows as svc
from studio.models import ApiKey, Project, Role
from tests.conftest import demo_graph
from traces.models import Span, SpanKind, Trace, TraceSource
from traces.selectors import span_tree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.model
def test_an_exported_script_sends_its_run_as_otel_spans_to_the_receiver(
    project: Project, alice: Any, local_endpoint: Any, local_model: str, live_asgi_server: str, tmp_path: Path
) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="QA", graph=demo_graph("question-answering"))
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="script", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.RUNNER, user=alice
    )
    script = tmp_path / "qa.py"
    script.write_text(export_python(workflow=workflow))

    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--input",
            json.dumps({"question": "What is 2+2?"}),
            "--studio-url",
            live_asgi_server,
            "--api-key",
            raw,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "sent to the studio (200)" in result.stderr, result.stderr[-2000:]
    trace = Trace.objects.get(project=project, source=TraceSource.EXTERNAL)
    assert trace.otel_trace_id in result.stderr and trace.name == f"{workflow.slug} (python export)"
    (root,) = span_tree(trace)
    assert root.kind == SpanKind.WORKFLOW
    steps = {node.span.node_id: node for node in root.children}
    assert {"answerer"} <= set(steps) and all(node.kind == SpanKind.STEP for node in steps.values())
    (call,) = steps["answerer"].children
    span = Span.objects.get(pk=call.span.pk)
    assert (span.kind, span.model, span.node_id) == ("chat", "openai/smollm2", "answerer")
    assert span.prompt_tokens > 0 and span.completion_tokens > 0
    assert (span.cost_usd, span.price_source, span.endpoint_id) == (0, "endpoint", local_endpoint.pk)
    assert span.input["messages"] and span.output["messages"][0]["role"] == "assistant"
