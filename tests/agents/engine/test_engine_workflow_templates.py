"""Every pattern template validates and runs with a schema-following LLM."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.engine import execute_graph, input_signature, validate_graph
from agents.engine.protocols import Decision, HttpResponse, LLMRequest
from agents.workflow_templates import workflow_template, workflow_templates
from tests.agents.engine.engine_testkit import DictApprovals, Kit, ScriptedHttp, ScriptedLLM

EXPECTED = {
    "sequential",
    "parallel",
    "hierarchical",
    "graph-loop",
    "conditional",
    "consensus",
    "debate",
    "handoff",
    "question-answering",
    "research-brief",
    "approval",
}
WAITS_FOR_A_PERSON = {"approval"}


def sample(schema: dict[str, Any]) -> Any:
    """A value that satisfies a (flat) JSON Schema, like a grammar-bound model."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return {name: sample(prop) for name, prop in schema["properties"].items()}
    return {"string": "text", "integer": 1, "number": 0.5, "boolean": True, "array": ["text"], "object": {}}[kind]


def schema_following(request: LLMRequest) -> str:
    return json.dumps(sample(request.schema)) if request.schema else "text"


def sample_inputs(graph: dict[str, Any]) -> dict[str, Any]:
    values = {"str": "owls", "int": 2, "float": 0.5, "bool": True, "object": {}, "list": ["cost", "speed"]}
    return {f.name: values[f.type] for f in input_signature(graph).fields}


def test_every_pattern_has_a_template():
    slugs = {t["slug"] for t in workflow_templates()}

    assert slugs == EXPECTED
    for template in workflow_templates():
        assert template["name"] and template["description"] and template["category"]


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_template_is_valid_uses_the_local_endpoint_and_small_outputs(slug):
    template = workflow_template(slug)

    assert validate_graph(template["graph"]) == []
    text = json.dumps(template["graph"])
    endpoints = {value for value in _values(template["graph"], "endpoint")}
    assert endpoints == {"local"}
    assert all(tokens <= 120 for tokens in _values(template["graph"], "max_tokens"))
    assert '"max_tokens"' in text


@pytest.mark.parametrize("slug", sorted(EXPECTED - WAITS_FOR_A_PERSON))
def test_template_runs_to_success_with_a_scripted_llm(slug, arun):
    graph = workflow_template(slug)["graph"]
    kit = Kit(ScriptedLLM(schema_following))

    result = arun(execute_graph(graph, sample_inputs(graph), kit.runtime))

    assert result.status == "succeeded", result.error
    assert result.outputs
    assert kit.llm.requests


@pytest.mark.parametrize(("approved", "sent"), [(True, 1), (False, 0)])
def test_approval_template_waits_then_sends_only_an_approved_draft(approved, sent, arun):
    graph = workflow_template("approval")["graph"]
    waiting = Kit(ScriptedLLM(schema_following), extra={"approvals": DictApprovals()})
    first = arun(execute_graph(graph, {"request": "Where is my order?"}, waiting.runtime))
    assert first.status == "waiting"

    http = ScriptedHttp(lambda request: HttpResponse(status=202, headers={}, body={"queued": True}))
    decision = Decision(approved=approved, data={"draft": "Edited reply"} if approved else None, comment="ok")
    kit = Kit(
        ScriptedLLM(schema_following),
        steps=waiting.steps,
        extra={"approvals": DictApprovals({("approval", ""): decision}), "http": http},
    )
    result = arun(execute_graph(graph, {"request": "Where is my order?"}, kit.runtime))

    assert result.status == "succeeded", result.error
    assert len(http.requests) == sent
    if approved:
        assert http.requests[0].method == "POST" and http.requests[0].json == {"text": "Edited reply"}
        assert result.outputs == {"status": 202, "comment": "ok"}
    else:
        assert result.outputs == {"status": None, "comment": "ok"}  # not sent: no status


def _values(data: Any, key: str) -> list[Any]:
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                found.append(v)
            found += _values(v, key)
    elif isinstance(data, list):
        for item in data:
            found += _values(item, key)
    return found
