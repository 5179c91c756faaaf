from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from agents.engine import Budget, execute_graph
from agents.engine.protocols import LLMError, LLMResponse, PromptSpec, StepRecord
from tests.agents.engine.engine_testkit import Kit, MemoryStepStore, ScriptedLLM, agent, edge, field_, io_graph, node


def qa_graph(**agent_config) -> dict:
    return io_graph(
        [agent("qa", [field_("question")], [field_("answer")], label="Answerer", **agent_config)],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )


def two_branch_graph() -> dict:
    """in → a, in → b (independent) → out(a, b)."""
    return io_graph(
        [
            agent("a", [field_("question")], [field_("answer")], label="A"),
            agent("b", [field_("question")], [field_("answer")], label="B"),
        ],
        [
            edge("in", "question", "a", "question"),
            edge("in", "question", "b", "question"),
            edge("a", "answer", "out", "first"),
            edge("b", "answer", "out", "second"),
        ],
        outputs=[field_("first"), field_("second")],
    )


def answer(text: str) -> str:
    return json.dumps({"answer": text})


def test_sequential_run_returns_outputs_and_records_every_step(arun):
    kit = Kit(ScriptedLLM({"qa": [answer("42")]}))

    result = arun(execute_graph(qa_graph(), {"question": "meaning?"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "42"}
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (10, 5, Decimal("0.001"))
    assert [r.node_id for r in kit.steps.finished] == ["in", "qa", "out"]
    step = kit.steps.get("qa")
    assert step.status == "succeeded"
    assert step.inputs == {"question": "meaning?"}
    assert step.outputs == {"answer": "42"}
    assert (step.input_tokens, step.output_tokens, step.cost_usd) == (10, 5, Decimal("0.001"))
    assert step.started_at is not None and step.finished_at >= step.started_at
    assert step.duration_ms >= 0
    assert [r.node_id for r in kit.steps.started] == ["in", "qa", "out"]


def test_agent_asks_for_the_output_schema_with_instructions_and_inputs(arun):
    kit = Kit(ScriptedLLM({"qa": [answer("42")]}))

    arun(execute_graph(qa_graph(instructions="Answer {{ question }} briefly."), {"question": "why?"}, kit.runtime))

    request = kit.llm.requests[0]
    assert request.endpoint == "local"
    assert request.schema == {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    assert request.messages[0]["role"] == "system"
    assert request.messages[0]["content"].startswith("Answer why? briefly.")
    assert "- \"answer\" (text)" in request.messages[0]["content"]
    assert request.messages[1] == {"role": "user", "content": "question: why?"}


def test_independent_branches_run_concurrently(arun):
    kit = Kit(ScriptedLLM({"a": [answer("x")], "b": [answer("y")]}, delay_s=0.2))

    result = arun(execute_graph(two_branch_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    (_, a_start, a_end), (_, b_start, b_end) = sorted(kit.llm.calls)
    assert b_start < a_end and a_start < b_end  # the two calls overlap in time
    assert max(a_end, b_end) - min(a_start, b_start) < 0.35  # ~0.2 s, not 0.4 s


def test_max_concurrency_one_runs_branches_one_after_the_other(arun):
    kit = Kit(ScriptedLLM({"a": [answer("x")], "b": [answer("y")]}, delay_s=0.05))

    result = arun(execute_graph(two_branch_graph(), {"question": "q"}, kit.runtime, max_concurrency=1))

    assert result.status == "succeeded"
    (_, _, a_end), (_, b_start, _) = sorted(kit.llm.calls, key=lambda c: c[1])
    assert b_start >= a_end


def test_stored_steps_are_reused_without_any_model_call(arun):
    first = Kit(ScriptedLLM({"a": [answer("x")], "b": [answer("y")]}))
    arun(execute_graph(two_branch_graph(), {"question": "q"}, first.runtime))
    kit = Kit(ScriptedLLM({}), steps=MemoryStepStore(list(first.steps.records.values())))

    result = arun(execute_graph(two_branch_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"first": "x", "second": "y"}
    assert kit.llm.requests == []
    assert kit.steps.started == []
    assert result.input_tokens == 0 and result.cost_usd == 0
    assert {p["node_id"] for p in kit.events.of_type("step.reused")} == {"in", "a", "b", "out"}


def test_resume_reruns_only_the_steps_not_finished(arun):
    stored = [
        StepRecord(
            node_id="in", node_type="input", status="succeeded", inputs={"question": "q"}, outputs={"question": "q"}
        ),
        StepRecord(
            node_id="a", node_type="agent", status="succeeded", inputs={"question": "q"}, outputs={"answer": "x"}
        ),
        StepRecord(node_id="b", node_type="agent", status="failed", inputs={"question": "q"}),
    ]
    kit = Kit(ScriptedLLM({"b": [answer("y")]}), steps=MemoryStepStore(stored))

    result = arun(execute_graph(two_branch_graph(), {"question": "q"}, kit.runtime))

    assert result.outputs == {"first": "x", "second": "y"}
    assert kit.llm.nodes_called() == ["b"]


def test_a_stored_step_with_other_inputs_is_not_reused(arun):
    first = Kit(ScriptedLLM({"qa": [answer("old")]}))
    arun(execute_graph(qa_graph(), {"question": "q1"}, first.runtime))
    kit = Kit(ScriptedLLM({"qa": [answer("new")]}), steps=MemoryStepStore(list(first.steps.records.values())))

    result = arun(execute_graph(qa_graph(), {"question": "q2"}, kit.runtime))

    assert result.outputs == {"answer": "new"}
    assert kit.llm.nodes_called() == ["qa"]


def test_agent_retries_once_with_the_error_after_invalid_json(arun):
    kit = Kit(ScriptedLLM({"qa": ["not json at all", answer("42")]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "42"}
    retry = kit.llm.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": "not json at all"}
    assert "not valid JSON" in retry[-1]["content"]
    step = kit.steps.get("qa")
    assert (step.input_tokens, step.output_tokens, step.cost_usd) == (20, 10, Decimal("0.002"))
    assert result.input_tokens == 20


def test_agent_retries_when_the_json_does_not_fit_the_signature(arun):
    kit = Kit(ScriptedLLM({"qa": [json.dumps({"reply": "x"}), answer("ok")]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert result.outputs == {"answer": "ok"}
    assert "answer: required" in kit.llm.requests[1].messages[-1]["content"]


def test_agent_fails_the_run_after_a_second_invalid_answer(arun):
    kit = Kit(ScriptedLLM({"qa": ["nope", "still nope"]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "failed"
    assert result.error_code == "invalid_output"
    assert result.failed_node == "qa"
    assert result.error.startswith('Node "Answerer" (qa) failed: the model\'s answer did not fit')
    assert len(kit.llm.requests) == 2
    assert kit.steps.get("qa").status == "failed"
    assert kit.steps.status("out") == "absent"
    assert result.input_tokens == 20


def test_a_failed_model_call_fails_the_run_naming_the_node(arun):
    kit = Kit(ScriptedLLM({"qa": [LLMError("bad request", code="bad_request")]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "bad_request", "qa")
    assert "Answerer" in result.error and "bad request" in result.error


def test_a_failing_branch_cancels_the_running_one(arun):
    async def script(request):
        if request.node_id == "a":
            raise LLMError("boom")
        await asyncio.sleep(5)
        return answer("late")

    kit = Kit(ScriptedLLM(script))

    result = arun(asyncio.wait_for(execute_graph(two_branch_graph(), {"question": "q"}, kit.runtime), 2))

    assert result.status == "failed" and result.failed_node == "a"
    assert kit.steps.get("b").error_code == "cancelled"


def test_token_budget_stops_the_run_at_once(arun):
    doc = io_graph(
        [
            agent("a", [field_("question")], [field_("answer")], label="A"),
            agent("b", [field_("answer")], [field_("answer")], label="B"),
        ],
        [
            edge("in", "question", "a", "question"),
            edge("a", "answer", "b", "answer"),
            edge("b", "answer", "out", "answer"),
        ],
    )
    kit = Kit(ScriptedLLM({"a": [answer("x")], "b": [answer("y")]}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime, budget=Budget(max_tokens=10)))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "budget_exceeded", "a")
    assert "15 tokens used, the limit is 10" in result.error
    assert kit.llm.nodes_called() == ["a"]
    assert kit.steps.get("a").status == "failed"


def test_cost_budget_stops_the_run(arun):
    kit = Kit(ScriptedLLM({"a": [answer("x")], "b": [answer("y")]}))

    result = arun(
        execute_graph(
            two_branch_graph(),
            {"question": "q"},
            kit.runtime,
            budget=Budget(max_cost_usd=Decimal("0.0015")),
            max_concurrency=1,
        )
    )

    assert result.error_code == "budget_exceeded"
    assert result.cost_usd == Decimal("0.002")
    assert len(kit.llm.requests) == 2


def test_an_unknown_cost_is_flagged_not_counted_as_zero(arun):
    unknown = LLMResponse(text=answer("x"), input_tokens=3, output_tokens=2, cost_usd=None)
    kit = Kit(ScriptedLLM({"qa": [unknown]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert result.cost_unknown is True
    assert result.cost_usd == 0
    assert kit.steps.get("qa").cost_usd is None


def test_cancel_stops_running_steps_and_returns_cancelled(arun):
    kit = Kit(ScriptedLLM({"qa": [answer("x")]}, delay_s=10))

    async def scenario():
        task = asyncio.create_task(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))
        while not kit.llm.requests:
            await asyncio.sleep(0.01)
        kit.control.cancelled = True
        return await asyncio.wait_for(task, 2)

    result = arun(scenario())

    assert (result.status, result.error_code) == ("cancelled", "cancelled")
    record = kit.steps.get("qa")
    assert (record.status, record.error_code) == ("failed", "cancelled")
    assert kit.steps.status("out") == "absent"


def test_a_run_cancelled_before_it_starts_runs_no_step(arun):
    kit = Kit(ScriptedLLM({}))
    kit.control.cancelled = True

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "cancelled"
    assert kit.steps.started == []


def test_cancelling_the_caller_propagates_cancelled_error(arun):
    kit = Kit(ScriptedLLM({"qa": [answer("x")]}, delay_s=10))

    async def scenario():
        task = asyncio.create_task(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))
        while not kit.llm.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "propagated"
        return "swallowed"

    assert arun(scenario()) == "propagated"


def test_an_invalid_graph_fails_without_running_a_step(arun):
    doc = qa_graph()
    del doc["edges"][0]
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "invalid_graph")
    assert "required input" in result.error
    assert kit.steps.started == [] and kit.steps.finished == []


def test_invalid_inputs_fail_without_running_a_step(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(qa_graph(), {"questions": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "invalid_inputs")
    assert "question: required" in result.error
    assert kit.steps.started == []


def test_a_store_failure_becomes_an_engine_error(arun):
    class BrokenStore(MemoryStepStore):
        async def step_started(self, record):
            raise RuntimeError("database is gone")

    kit = Kit(ScriptedLLM({}), steps=BrokenStore())

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "engine_error")
    assert "database is gone" in result.error


def test_llm_node_renders_a_stored_prompt_version(arun):
    doc = io_graph(
        [
            node(
                "w",
                "llm",
                "Writer",
                endpoint="local",
                prompt={"slug": "greet", "label": "production"},
                inputs=[field_("question")],
                params={"max_tokens": 50},
            )
        ],
        [edge("in", "question", "w", "question"), edge("w", "text", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({"w": ["Hi!"]}))
    kit.prompts.prompts[("greet", "production")] = PromptSpec(
        version_id=7,
        version=3,
        messages=[{"role": "user", "content": "Say hi about {{ question }}"}],
        model_config={"temperature": 0.1, "max_tokens": 20},
    )

    result = arun(execute_graph(doc, {"question": "owls"}, kit.runtime))

    assert result.outputs == {"answer": "Hi!"}
    request = kit.llm.requests[0]
    assert request.messages == [{"role": "user", "content": "Say hi about owls"}]
    assert request.params == {"temperature": 0.1, "max_tokens": 50}
    assert request.prompt_version_id == 7
    assert request.schema is None


def test_llm_node_with_a_missing_prompt_fails_clearly(arun):
    doc = io_graph(
        [node("w", "llm", "Writer", endpoint="local", prompt={"slug": "nope"}, inputs=[field_("question")])],
        [edge("in", "question", "w", "question"), edge("w", "text", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "owls"}, kit.runtime))

    assert result.error_code == "prompt_not_found"


def test_llm_node_with_a_structured_signature_asks_for_the_schema(arun):
    doc = io_graph(
        [
            node(
                "w",
                "llm",
                "Scorer",
                endpoint="local",
                messages=[{"role": "user", "content": "Rate {{ question }}"}],
                inputs=[field_("question")],
                outputs=[field_("score", "int")],
            )
        ],
        [edge("in", "question", "w", "question"), edge("w", "score", "out", "score")],
        outputs=[field_("score", "int")],
    )
    kit = Kit(ScriptedLLM({"w": ['```json\n{"score": "7"}\n```']}))

    result = arun(execute_graph(doc, {"question": "owls"}, kit.runtime))

    assert result.outputs == {"score": 7}
    assert kit.llm.requests[0].schema["properties"] == {"score": {"type": "integer"}}


def test_a_missing_template_variable_fails_the_step(arun):
    doc = io_graph(
        [
            node(
                "w",
                "llm",
                "Writer",
                endpoint="local",
                prompt={"slug": "p", "version": 1},
                inputs=[field_("question")],
            )
        ],
        [edge("in", "question", "w", "question"), edge("w", "text", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({}))
    kit.prompts.prompts[("p", 1)] = PromptSpec(
        version_id=1, version=1, messages=[{"role": "user", "content": "{{ topic }}"}]
    )

    result = arun(execute_graph(doc, {"question": "owls"}, kit.runtime))

    assert result.error_code == "template_error"
    assert "'topic' is undefined" in result.error
    assert kit.llm.requests == []


def test_streamed_tokens_are_coalesced_into_few_events(arun):
    async def script(request):
        for _ in range(200):
            await request.on_token("x")
        return "x" * 200

    doc = io_graph(
        [
            node(
                "w", "llm", "W", endpoint="local", messages=[{"content": "{{ question }}"}], inputs=[field_("question")]
            )
        ],
        [edge("in", "question", "w", "question"), edge("w", "text", "out", "answer")],
    )
    kit = Kit(ScriptedLLM(script))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    events = kit.events.of_type("step.token")
    assert 1 <= len(events) < 10
    assert "".join(t["text"] for e in events for t in e["tokens"]) == "x" * 200
    assert events[0]["tokens"][0]["node_id"] == "w"
