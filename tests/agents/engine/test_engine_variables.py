"""Project variables in the engine: ``{{ vars.<name> }}`` in templates and conditions, found statically."""

from __future__ import annotations

import json

from agents.engine import execute_graph, validate_graph
from agents.engine.templating import variable_names
from agents.engine.varrefs import graph_variable_names, graph_variable_refs
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, agent, edge, field_, io_graph, node


def vars_graph() -> dict:
    """A router on ``vars.threshold``; the high branch greets with ``vars.team`` and ``vars["meta"]``."""
    router = node(
        "route",
        "router",
        "Route",
        inputs=[field_("score", "float")],
        routes=[{"name": "high", "when": "score >= vars.threshold", "description": "above the threshold"}],
        default_route="low",
    )
    return io_graph(
        [
            router,
            node(
                "hello",
                "template",
                "Hello",
                template='{{ vars.team }} ({{ vars["meta"].region }}): {{ s }} is high',
                inputs=[field_("s", "float")],
            ),
            node("meh", "template", "Meh", template="{{ s }} is low", inputs=[field_("s", "float")]),
            node("merge", "join", "Merge", mode="first", inputs=[field_("high"), field_("low")]),
        ],
        [
            edge("in", "score", "route", "score"),
            edge("route", "high", "hello", "s"),
            edge("route", "low", "meh", "s"),
            edge("hello", "text", "merge", "high"),
            edge("meh", "text", "merge", "low"),
            edge("merge", "value", "out", "answer"),
        ],
        inputs=[field_("score", "float")],
    )


VALUES = {"threshold": 0.5, "team": "Search", "meta": {"region": "eu"}}


def test_a_graph_reading_variables_is_valid_and_lists_them():
    graph = vars_graph()
    assert validate_graph(graph) == []
    refs = graph_variable_refs(graph)
    assert {(r.node_id, r.name) for r in refs} == {("route", "threshold"), ("hello", "team"), ("hello", "meta")}
    assert [r.where for r in refs if r.name == "threshold"] == ["routes[0].when"]
    assert graph_variable_names(graph) == ["meta", "team", "threshold"]


def test_templates_and_conditions_read_the_runs_variables(arun):
    kit = Kit(ScriptedLLM({}))
    high = arun(execute_graph(vars_graph(), {"score": 0.9}, kit.runtime, variables=VALUES))
    assert high.status == "succeeded", high.error
    assert high.outputs == {"answer": "Search (eu): 0.9 is high"}
    low = arun(
        execute_graph(
            vars_graph(), {"score": 0.9}, Kit(ScriptedLLM({})).runtime, variables={**VALUES, "threshold": 0.95}
        )
    )
    assert low.outputs == {"answer": "0.9 is low"}


def test_a_variable_missing_at_run_time_fails_the_step_naming_it(arun):
    kit = Kit(ScriptedLLM({}))
    result = arun(execute_graph(vars_graph(), {"score": 0.9}, kit.runtime, variables={"threshold": 0.1}))
    assert result.status == "failed" and result.failed_node == "hello"
    assert "team" in result.error


def test_variable_names_in_templates_and_expressions():
    assert variable_names("{{ vars.a }} {{ vars['b'] }} {{ other.c }} {{ vars[x] }}") == ({"a", "b"}, [])
    assert variable_names("vars.limit > 3 and vars.on", expression=True) == ({"limit", "on"}, [])
    assert variable_names("plain text about vars.x") == (set(), [])  # not a template expression
    names, problems = variable_names("{{ vars.a ")
    assert names == set() and problems


def test_an_agent_prompt_reads_a_variable(arun):
    graph = io_graph(
        [agent("ask", [field_("question")], [field_("answer")], instructions="You work for {{ vars.team }}.")],
        [edge("in", "question", "ask", "question"), edge("ask", "answer", "out", "answer")],
    )
    assert [r.name for r in graph_variable_refs(graph)] == ["team"]
    kit = Kit(ScriptedLLM({"ask": [json.dumps({"answer": "ok"})]}))
    result = arun(execute_graph(graph, {"question": "hi"}, kit.runtime, variables={"team": "Search"}))
    assert result.status == "succeeded", result.error
    sent = json.dumps([m for request in kit.llm.requests for m in request.messages], default=str)
    assert "You work for Search." in sent
