"""What the engine asks a model and what it accepts back: prompts without copyable
sample values, empty answers retried, and USD budgets that need known prices."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from agents.engine import Budget, execute_graph
from agents.engine.nodes.agent import build_messages
from agents.engine.protocols import LLMResponse
from agents.engine.signature import FieldSpec, Signature
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, agent, edge, field_, io_graph, node


def qa_graph(**agent_config) -> dict:
    return io_graph(
        [agent("qa", [field_("question")], [field_("answer")], label="Answerer", **agent_config)],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )


def plain_llm_graph() -> dict:
    return io_graph(
        [
            node(
                "w",
                "llm",
                "Writer",
                endpoint="local",
                messages=[{"role": "user", "content": "Write about {{ question }}"}],
                inputs=[field_("question")],
            )
        ],
        [edge("in", "question", "w", "question"), edge("w", "text", "out", "answer")],
    )


# ------------------------------------------------------------------ prompts


def test_agent_prompt_describes_fields_without_sample_values():
    outputs = Signature(
        [
            FieldSpec(name="answer", description="A short answer"),
            FieldSpec(name="confidence", type="float", description="How sure you are, 0 to 1"),
            FieldSpec(name="tags", type="list", items="str"),
            FieldSpec(name="verdict", type="enum", choices=["yes", "no"]),
        ]
    )

    messages = build_messages("Answer the question.", {"question": "Why is the sky blue?"}, outputs)

    system = messages[0]["content"]
    assert system.startswith("Answer the question.")
    for name in ("answer", "confidence", "tags", "verdict"):
        assert f'"{name}"' in system
    assert "A short answer" in system and "How sure you are, 0 to 1" in system
    assert '"yes"' in system and '"no"' in system  # enum choices are the allowed values, named
    # No example object or sample value the model could copy into its answer.
    assert "{" not in system and "for example" not in system.lower() and "First sentence" not in system
    assert not re.search(r":\s*\"[^\"]+\"\s*[,}]", system)
    assert messages[1] == {"role": "user", "content": "question: Why is the sky blue?"}


def test_the_request_schema_carries_the_field_descriptions(arun):
    kit = Kit(ScriptedLLM({"qa": [json.dumps({"answer": "Blue light scatters most."})]}))
    doc = io_graph(
        [agent("qa", [field_("question")], [field_("answer", description="A short answer")])],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )

    arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert kit.llm.requests[0].schema["properties"]["answer"] == {"type": "string", "description": "A short answer"}


# ------------------------------------------------------------------ empty answers


def test_an_empty_required_string_is_retried_like_a_schema_error(arun):
    kit = Kit(ScriptedLLM({"qa": [json.dumps({"answer": "  "}), json.dumps({"answer": "Rayleigh scattering."})]}))

    result = arun(execute_graph(qa_graph(), {"question": "Why is the sky blue?"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "Rayleigh scattering."}
    assert len(kit.llm.requests) == 2
    retry = kit.llm.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": json.dumps({"answer": "  "})}
    assert "answer: must not be empty" in retry[-1]["content"]
    assert kit.steps.get("qa").input_tokens == 20  # both calls count


def test_two_empty_answers_fail_the_step_as_invalid_output(arun):
    kit = Kit(ScriptedLLM({"qa": [json.dumps({"answer": ""})]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "invalid_output", "qa")
    assert "answer: must not be empty" in result.error
    assert len(kit.llm.requests) == 2


def test_an_empty_optional_string_is_accepted(arun):
    doc = io_graph(
        [agent("qa", [field_("question")], [field_("answer"), field_("note", required=False, default="-")])],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({"qa": [json.dumps({"answer": "Yes.", "note": ""})]}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.status == "succeeded" and len(kit.llm.requests) == 1


def test_an_empty_plain_completion_is_asked_again(arun):
    kit = Kit(ScriptedLLM({"w": ["", "Owls hunt at night."]}))

    result = arun(execute_graph(plain_llm_graph(), {"question": "owls"}, kit.runtime))

    assert result.outputs == {"answer": "Owls hunt at night."}
    assert len(kit.llm.requests) == 2
    assert kit.llm.requests[1].messages[-1]["role"] == "user"
    assert "empty" in kit.llm.requests[1].messages[-1]["content"]


def test_two_empty_plain_completions_fail_as_invalid_output(arun):
    kit = Kit(ScriptedLLM({"w": ["\n"]}))

    result = arun(execute_graph(plain_llm_graph(), {"question": "owls"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "invalid_output")
    assert len(kit.llm.requests) == 2


# ------------------------------------------------------------------ budgets and unknown prices


def unpriced(text: str) -> LLMResponse:
    return LLMResponse(text=text, input_tokens=3, output_tokens=2, cost_usd=None)


def test_a_usd_budget_stops_the_run_at_the_first_unpriced_call(arun):
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
    kit = Kit(ScriptedLLM({"a": [unpriced(json.dumps({"answer": "x"}))], "b": [json.dumps({"answer": "y"})]}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime, budget=Budget(max_cost_usd=Decimal("100"))))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "budget_unpriced", "a")
    assert "no known price" in result.error and "$100" in result.error
    assert kit.llm.nodes_called() == ["a"]  # nothing after the unpriced call
    step = kit.steps.get("a")
    assert (step.status, step.error_code) == ("failed", "budget_unpriced")
    assert (step.input_tokens, step.output_tokens) == (3, 2)  # the call is still accounted for
    assert result.cost_unknown is True


def test_unknown_prices_without_a_usd_budget_only_flag_the_cost(arun):
    kit = Kit(ScriptedLLM({"qa": [unpriced(json.dumps({"answer": "x"}))]}))

    result = arun(execute_graph(qa_graph(), {"question": "q"}, kit.runtime, budget=Budget(max_tokens=1000)))

    assert result.status == "succeeded"
    assert result.cost_unknown is True
