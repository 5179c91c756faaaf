"""Guardrail checks and human approval."""

from __future__ import annotations

import json

import pytest

from agents.engine import execute_graph, validate_graph
from agents.engine.nodes.guardrail import find_pii
from agents.engine.protocols import Decision
from tests.agents.engine.engine_testkit import DictApprovals, Kit, ScriptedLLM, agent, edge, field_, io_graph, node


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("write to ada@example.org please", ["email"]),
        ("call +44 20 7946 0958 now", ["phone"]),
        ("card 4111 1111 1111 1111", ["card"]),
        ("IBAN GB82 WEST 1234 5698 7654 32", ["iban"]),
        ("card 4111 1111 1111 1112 fails luhn", []),
        ("meeting on 2024-01-15 10:30 in room 12", []),
        ("nothing personal here, version 1.2.3", []),
    ],
)
def test_find_pii_recognises_personal_data(text, kinds):
    assert find_pii(text, ["email", "phone", "card", "iban"]) == kinds


def guarded_graph(checks: list[dict], **config) -> dict:
    return io_graph(
        [
            node("guard", "guardrail", "Guard", inputs=[field_("question")], checks=checks, **config),
            node("ok", "template", "Ok", template="ok: {{ q }}", inputs=[field_("q")]),
            node(
                "no",
                "template",
                "No",
                template="refused: {{ v | join(', ') }}",
                inputs=[field_("v", "list", items="str")],
            ),
            node("merge", "join", "Merge", mode="first", inputs=[field_("ok"), field_("no")]),
        ],
        [
            edge("in", "question", "guard", "question"),
            edge("guard", "pass", "ok", "q"),
            edge("guard", "violations", "no", "v"),
            edge("ok", "text", "merge", "ok"),
            edge("no", "text", "merge", "no"),
            edge("merge", "value", "out", "answer"),
        ],
    )


def test_guardrail_sends_clean_text_down_the_pass_branch(arun):
    doc = guarded_graph([{"kind": "pii"}])
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "hello"}, kit.runtime))

    assert result.outputs == {"answer": "ok: hello"}
    assert kit.steps.status("no") == "skipped"


def test_guardrail_sends_pii_down_the_fail_branch_with_violations(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(guarded_graph([{"kind": "pii"}]), {"question": "mail ada@example.org"}, kit.runtime))

    assert result.outputs == {"answer": "refused: contains personal data: email"}
    assert kit.steps.status("ok") == "skipped"


def test_guardrail_regex_and_json_schema_checks(arun):
    checks = [
        {"kind": "regex", "pattern": r"^\{", "must_match": True},
        {"kind": "json_schema", "json_schema": {"type": "object", "required": ["a"]}},
    ]
    kit = Kit(ScriptedLLM({}))

    passed = arun(execute_graph(guarded_graph(checks), {"question": '{"a": 1}'}, kit.runtime))
    failed = arun(execute_graph(guarded_graph(checks), {"question": '{"b": 1}'}, Kit(ScriptedLLM({})).runtime))

    assert passed.outputs == {"answer": 'ok: {"a": 1}'}
    assert failed.outputs == {"answer": "refused: JSON Schema: 'a' is a required property"}


def test_guardrail_llm_judge(arun):
    doc = guarded_graph([{"kind": "llm_judge", "criteria": "polite"}], endpoint="local")
    kit = Kit(ScriptedLLM({"guard": [json.dumps({"ok": False, "reason": "rude"})]}))

    result = arun(execute_graph(doc, {"question": "go away"}, kit.runtime))

    assert result.outputs == {"answer": "refused: judge: rude"}


def test_guardrail_config_errors_are_reported_before_the_run():
    doc = guarded_graph([{"kind": "regex", "pattern": "("}, {"kind": "json_schema", "json_schema": {"type": 3}}])

    messages = [i.message for i in validate_graph(doc)]

    assert len(messages) == 2
    assert "invalid pattern" in messages[0] and "invalid JSON Schema" in messages[1]


def approval_graph() -> dict:
    return io_graph(
        [
            agent("draft", [field_("question")], [field_("text")], label="Draft"),
            node("review", "approval", "Review", inputs=[field_("text")], instructions="Check: {{ text }}"),
            node("side", "template", "Side", template="side {{ question }}", inputs=[field_("question")]),
            node("merge", "join", "Merge", mode="first", inputs=[field_("ok"), field_("rejected")]),
        ],
        [
            edge("in", "question", "draft", "question"),
            edge("draft", "text", "review", "text"),
            edge("in", "question", "side", "question"),
            edge("review", "text", "merge", "ok"),
            edge("review", "rejected", "merge", "rejected"),
            edge("merge", "value", "out", "answer"),
            edge("side", "text", "out", "side"),
        ],
        outputs=[field_("answer"), field_("side")],
    )


def test_approval_without_a_decision_makes_the_run_wait_while_other_branches_finish(arun):
    kit = Kit(ScriptedLLM({"draft": [json.dumps({"text": "v1"})]}), extra={"approvals": DictApprovals()})

    result = arun(execute_graph(approval_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "waiting"
    review = kit.steps.get("review")
    assert review.status == "waiting"
    assert review.inputs == {"text": "v1"}
    assert review.meta["instructions"] == "Check: v1"
    assert kit.steps.status("side") == "succeeded"
    assert kit.steps.status("merge") == "absent"


def test_a_resumed_run_continues_with_the_edited_approved_data(arun):
    approvals = DictApprovals()
    kit = Kit(ScriptedLLM({"draft": [json.dumps({"text": "v1"})]}), extra={"approvals": approvals})
    arun(execute_graph(approval_graph(), {"question": "q"}, kit.runtime))
    approvals.decisions[("review", "")] = Decision(approved=True, data={"text": "v2"}, comment="fixed")

    result = arun(execute_graph(approval_graph(), {"question": "q"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "v2", "side": "side q"}
    assert kit.llm.nodes_called() == ["draft"]  # the draft was reused


def test_a_rejection_takes_the_rejected_branch(arun):
    approvals = DictApprovals({("review", ""): Decision(approved=False, comment="too long")})
    kit = Kit(ScriptedLLM({"draft": [json.dumps({"text": "v1"})]}), extra={"approvals": approvals})

    result = arun(execute_graph(approval_graph(), {"question": "q"}, kit.runtime))

    assert result.outputs == {"answer": "too long", "side": "side q"}


def test_approval_needs_an_approval_gate(arun):
    kit = Kit(ScriptedLLM({"draft": [json.dumps({"text": "v1"})]}))

    result = arun(execute_graph(approval_graph(), {"question": "q"}, kit.runtime))

    assert result.error_code == "not_configured"


def test_an_approval_inside_a_loop_makes_the_loop_wait_then_resume(arun):
    body = {"node": {"id": "check", "type": "approval", "config": {"inputs": [field_("text")], "instructions": "ok?"}}}
    doc = io_graph(
        [node("loop", "loop", "Review loop", inputs=[field_("text")], body=body, max_iterations=2)],
        [edge("in", "question", "loop", "text"), edge("loop", "text", "out", "answer")],
    )
    assert validate_graph(doc) == []
    approvals = DictApprovals()
    kit = Kit(ScriptedLLM({}), extra={"approvals": approvals})

    first = arun(execute_graph(doc, {"question": "draft"}, kit.runtime))
    approvals.decisions[("loop.check", "1")] = Decision(approved=True)
    second = arun(execute_graph(doc, {"question": "draft"}, kit.runtime))
    approvals.decisions[("loop.check", "2")] = Decision(approved=True, data={"text": "final"})
    third = arun(execute_graph(doc, {"question": "draft"}, kit.runtime))

    assert (first.status, second.status, third.status) == ("waiting", "waiting", "succeeded")
    assert kit.steps.get("loop").status == "succeeded"
    assert third.outputs == {"answer": "final"}
