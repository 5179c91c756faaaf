"""Router, join and the skip rules."""

from __future__ import annotations

import json

from agents.engine import execute_graph, validate_graph
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, agent, edge, field_, io_graph, node


def conditional_graph(mode: str = "expression") -> dict:
    router = node(
        "route",
        "router",
        "Route",
        mode=mode,
        inputs=[field_("question")],
        routes=[
            {"name": "math", "when": "'+' in question", "description": "arithmetic"},
            {"name": "chat", "when": "question | length < 20", "description": "small talk"},
        ],
        default_route="other",
        **({"endpoint": "local", "instructions": "Classify."} if mode == "llm" else {}),
    )
    return io_graph(
        [
            router,
            agent("math", [field_("question")], [field_("answer")], label="Math"),
            agent("chat", [field_("question")], [field_("answer")], label="Chat"),
            node("fallback", "template", "Fallback", template="No idea: {{ q }}", inputs=[field_("q")]),
            node("merge", "join", "Merge", mode="first", inputs=[field_("math"), field_("chat"), field_("other")]),
        ],
        [
            edge("in", "question", "route", "question"),
            edge("route", "math", "math", "question"),
            edge("route", "chat", "chat", "question"),
            edge("route", "other", "fallback", "q"),
            edge("math", "answer", "merge", "math"),
            edge("chat", "answer", "merge", "chat"),
            edge("fallback", "text", "merge", "other"),
            edge("merge", "value", "out", "answer"),
        ],
    )


def test_conditional_graph_is_valid():
    assert validate_graph(conditional_graph()) == []
    assert validate_graph(conditional_graph("llm")) == []


def test_router_runs_the_first_matching_branch_and_skips_the_others(arun):
    kit = Kit(ScriptedLLM({"math": [json.dumps({"answer": "4"})]}))

    result = arun(execute_graph(conditional_graph(), {"question": "2+2"}, kit.runtime))

    assert result.outputs == {"answer": "4"}
    assert kit.llm.nodes_called() == ["math"]
    assert kit.steps.get("route").outputs == {"math": "2+2"}
    assert kit.steps.status("chat") == "skipped"
    assert kit.steps.status("fallback") == "skipped"
    assert kit.steps.status("merge") == "succeeded"


def test_router_falls_back_to_the_default_route(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(conditional_graph(), {"question": "a long and winding question"}, kit.runtime))

    assert result.outputs == {"answer": "No idea: a long and winding question"}
    assert kit.llm.requests == []


def test_llm_router_classifies_with_an_enum_schema(arun):
    kit = Kit(ScriptedLLM({"route": [json.dumps({"route": "chat"})], "chat": [json.dumps({"answer": "hi"})]}))

    result = arun(execute_graph(conditional_graph("llm"), {"question": "2+2"}, kit.runtime))

    assert result.outputs == {"answer": "hi"}
    schema = kit.llm.requests[0].schema
    assert schema["properties"]["route"]["enum"] == ["math", "chat", "other"]


def test_a_router_expression_that_does_not_parse_is_a_validation_error():
    doc = conditional_graph()
    doc["nodes"][1]["config"]["routes"][0]["when"] = "'+' in"

    issues = validate_graph(doc)

    assert [i.code for i in issues] == ["invalid_expression"]
    assert issues[0].message.startswith("Node \"Route\" (route): route 'math' condition: syntax error")


def test_a_router_expression_may_not_read_undeclared_fields():
    doc = conditional_graph()
    doc["nodes"][1]["config"]["routes"][0]["when"] = "topic == 'x'"

    assert [i.code for i in validate_graph(doc)] == ["invalid_expression"]


def test_a_node_fed_by_a_skipped_and_an_active_edge_is_skipped(arun):
    """'both' needs the math branch's answer and the question: the math branch
    is not taken, so it is skipped even though the question arrives."""
    doc = conditional_graph()
    doc["nodes"].insert(
        -1, node("both", "template", "Both", template="{{ a }} {{ q }}", inputs=[field_("a"), field_("q")])
    )
    doc["edges"] += [edge("math", "answer", "both", "a"), edge("in", "question", "both", "q")]
    kit = Kit(ScriptedLLM({"chat": [json.dumps({"answer": "hi"})]}))

    result = arun(execute_graph(doc, {"question": "hello"}, kit.runtime))

    assert result.status == "succeeded"
    assert kit.steps.status("both") == "skipped"


def test_an_optional_input_fed_by_a_skipped_branch_takes_its_default(arun):
    doc = conditional_graph()
    doc["nodes"].insert(
        -1,
        node(
            "opt",
            "template",
            "Opt",
            template="{{ a }}|{{ q }}",
            inputs=[field_("a", required=False, default="none"), field_("q")],
        ),
    )
    doc["edges"] += [edge("math", "answer", "opt", "a"), edge("in", "question", "opt", "q")]
    kit = Kit(ScriptedLLM({"chat": [json.dumps({"answer": "hi"})]}))

    arun(execute_graph(doc, {"question": "hello"}, kit.runtime))

    assert kit.steps.get("opt").outputs == {"text": "none|hello"}


def test_an_output_fed_only_by_a_skipped_branch_fails_the_run(arun):
    doc = io_graph(
        [
            node("route", "router", "Route", inputs=[field_("question")], routes=[{"name": "yes", "when": "false"}]),
        ],
        [edge("in", "question", "route", "question"), edge("route", "yes", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code) == ("failed", "missing_output")
    assert 'received no value for "answer"' in result.error


def test_join_list_and_object_merge_in_port_order(arun):
    doc = io_graph(
        [
            node("t1", "template", "T1", template="one {{ question }}", inputs=[field_("question")]),
            node("t2", "template", "T2", template="two {{ question }}", inputs=[field_("question")]),
            node("l", "join", "L", mode="list", inputs=[field_("x"), field_("y")]),
            node("o", "join", "O", mode="object", inputs=[field_("x"), field_("y")]),
            node("c", "join", "C", mode="concat", separator=" + ", inputs=[field_("x"), field_("y")]),
        ],
        [
            edge("in", "question", "t1", "question"),
            edge("in", "question", "t2", "question"),
            edge("t2", "text", "l", "x"),
            edge("t1", "text", "l", "y"),
            edge("t1", "text", "o", "y"),
            edge("t2", "text", "o", "x"),
            edge("t1", "text", "c", "x"),
            edge("t2", "text", "c", "y"),
            edge("l", "items", "out", "items"),
            edge("o", "merged", "out", "merged"),
            edge("c", "text", "out", "text"),
        ],
        outputs=[field_("items", "list", items="str"), field_("merged", "object"), field_("text")],
    )
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.outputs == {
        "items": ["two q", "one q"],
        "merged": {"x": "two q", "y": "one q"},
        "text": "one q + two q",
    }


def test_join_first_requires_inputs_of_one_type():
    doc = io_graph(
        [node("j", "join", "J", mode="first", inputs=[field_("x"), field_("y", "int")])],
        [edge("in", "question", "j", "x"), edge("j", "value", "out", "answer")],
    )

    assert "same type" in validate_graph(doc)[0].message
