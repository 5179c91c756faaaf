"""Per-node retry, timeout and on_error."""

from __future__ import annotations

import asyncio
import json

from agents.engine import execute_graph, validate_graph
from agents.engine.protocols import LLMError
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, agent, edge, field_, io_graph, node


def qa_graph(**config) -> dict:
    return io_graph(
        [agent("qa", [field_("question")], [field_("answer")], label="Answerer", **config)],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )


def answer(text: str) -> str:
    return json.dumps({"answer": text})


def test_a_transient_error_is_retried_by_the_retry_policy(arun):
    kit = Kit(ScriptedLLM({"qa": [LLMError("rate limited", transient=True), answer("ok")]}))

    result = arun(execute_graph(qa_graph(retry={"attempts": 2, "backoff_ms": 1}), {"question": "q"}, kit.runtime))

    assert result.outputs == {"answer": "ok"}
    assert kit.steps.get("qa").attempt == 2


def test_a_permanent_error_is_not_retried(arun):
    kit = Kit(ScriptedLLM({"qa": [LLMError("bad key", code="auth"), answer("ok")]}))

    result = arun(execute_graph(qa_graph(retry={"attempts": 3, "backoff_ms": 1}), {"question": "q"}, kit.runtime))

    assert result.error_code == "auth"
    assert len(kit.llm.requests) == 1


def test_retries_stop_after_the_configured_attempts(arun):
    kit = Kit(ScriptedLLM({"qa": [ConnectionError("refused")]}))

    result = arun(execute_graph(qa_graph(retry={"attempts": 3, "backoff_ms": 1}), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "connection_error")
    assert len(kit.llm.requests) == 3


def test_a_step_over_its_timeout_fails_with_timeout(arun):
    async def slow(request):
        await asyncio.sleep(5)
        return answer("late")

    kit = Kit(ScriptedLLM(slow))

    result = arun(execute_graph(qa_graph(timeout_s=0.05), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "timeout")


def test_on_error_default_uses_the_default_outputs(arun):
    kit = Kit(ScriptedLLM({"qa": [LLMError("down")]}))
    doc = qa_graph(on_error="default", default_outputs={"answer": "unknown"})

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "unknown"}
    step = kit.steps.get("qa")
    assert step.status == "succeeded" and "down" in step.error


def test_on_error_branch_routes_to_the_error_port_and_skips_the_normal_path(arun):
    doc = io_graph(
        [
            agent("qa", [field_("question")], [field_("answer")], label="Answerer", on_error="branch"),
            node("ok", "template", "Ok", template="ok: {{ answer }}", inputs=[field_("answer")]),
            node("bad", "template", "Bad", template="sorry ({{ error }})", inputs=[field_("error")]),
            node("merge", "join", "Merge", mode="first", inputs=[field_("ok"), field_("bad")]),
        ],
        [
            edge("in", "question", "qa", "question"),
            edge("qa", "answer", "ok", "answer"),
            edge("qa", "error", "bad", "error"),
            edge("ok", "text", "merge", "ok"),
            edge("bad", "text", "merge", "bad"),
            edge("merge", "value", "out", "answer"),
        ],
    )
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM({"qa": [LLMError("down")]}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "sorry (model call failed: down)"}
    assert kit.steps.status("ok") == "skipped"
