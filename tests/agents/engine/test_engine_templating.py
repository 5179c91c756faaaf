from __future__ import annotations

import pytest

from agents.engine import TemplateError, execute_graph, validate_graph
from agents.engine.templating import (
    evaluate,
    expression_problems,
    render,
    secret_names,
    template_problems,
)
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, edge, field_, io_graph, node


def test_render_fills_variables():
    assert render("Hello {{ name }}!", {"name": "Ada"}) == "Hello Ada!"


def test_render_refuses_a_missing_variable():
    with pytest.raises(TemplateError, match="undefined variable: 'name' is undefined"):
        render("Hello {{ name }}!", {})


def test_render_refuses_unsafe_attribute_access():
    with pytest.raises(TemplateError, match=r"not allowed|undefined"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_render_refuses_mutating_data():
    with pytest.raises(TemplateError):
        render("{{ items.append(3) }}", {"items": [1]})


def test_tojson_filter_emits_plain_json():
    assert render("{{ x | tojson }}", {"x": {"a": "<b>"}}) == '{"a": "<b>"}'


def test_template_problems_name_undeclared_variables_and_syntax_errors():
    assert template_problems("{{ a }} {{ b }}", ["a"]) == ["uses undefined variable 'b'"]
    assert template_problems("{% for x in xs %}{{ x }}{% endfor %}", ["xs"]) == []
    assert template_problems("{{ a ", ["a"])[0].startswith("syntax error on line 1")


def test_evaluate_runs_a_sandboxed_expression():
    assert evaluate("score > 0.5 and 'refund' in text | lower", {"score": 0.9, "text": "A REFUND"}) is True


def test_expression_problems_catch_parse_errors_and_unknown_names():
    assert expression_problems("score >", ["score"])[0].startswith("syntax error")
    assert expression_problems("scor > 1", ["score"]) == ["uses undefined variable 'scor'"]
    assert expression_problems("", []) == ["the expression is empty"]


def test_secret_names_lists_literal_secret_calls_and_refuses_others():
    assert secret_names('Bearer {{ secret("API_KEY") }}') == ({"API_KEY"}, [])
    names, problems = secret_names("{{ secret(name) }}")
    assert names == set() and problems


def test_render_resolves_secrets_given_by_the_caller():
    assert render('{{ secret("K") }}', {}, secrets={"K": "v"}) == "v"
    with pytest.raises(TemplateError, match="secret 'K' is not available"):
        render('{{ secret("K") }}', {})


def test_template_node_with_an_unknown_variable_fails_validation():
    doc = io_graph(
        [node("t", "template", "Fmt", template="Q: {{ question }} {{ extra }}", inputs=[field_("question")])],
        [edge("in", "question", "t", "question"), edge("t", "text", "out", "answer")],
    )

    issues = validate_graph(doc)

    assert [i.message for i in issues] == ["Node \"Fmt\" (t): template: uses undefined variable 'extra'."]


def test_template_node_renders_its_inputs(arun):
    doc = io_graph(
        [node("t", "template", "Fmt", template="Q: {{ question | upper }}", inputs=[field_("question")])],
        [edge("in", "question", "t", "question"), edge("t", "text", "out", "answer")],
    )
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "why?"}, kit.runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "Q: WHY?"}


def test_render_refuses_building_huge_values():
    with pytest.raises(TemplateError, match="too large"):
        render("{{ 'a' * 10000000000 }}", {})
    with pytest.raises(TemplateError, match="too large"):
        render("{{ 2 ** 100000 }}", {})
    assert render("{{ 'ab' * 2 }} {{ 2 ** 3 }} {{ 3 * 4 }}", {}) == "abab 8 12"


def test_unknown_filter_is_a_validation_issue_not_an_exception():
    from agents.engine import validate_graph

    graph = {
        "schema": 1,
        "nodes": [
            {"id": "in", "type": "input", "label": "In", "position": {"x": 0, "y": 0},
             "config": {"fields": [{"name": "x", "type": "str"}]}},
            {"id": "t", "type": "template", "label": "T", "position": {"x": 1, "y": 0},
             "config": {"template": "{{ x | no_such_filter }}", "inputs": [{"name": "x", "type": "str"}]}},
            {"id": "out", "type": "output", "label": "Out", "position": {"x": 2, "y": 0},
             "config": {"fields": [{"name": "text", "type": "str"}]}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "source_port": "x", "target": "t", "target_port": "x"},
            {"id": "e2", "source": "t", "source_port": "text", "target": "out", "target_port": "text"},
        ],
    }
    issues = validate_graph(graph)
    assert [issue.node_id for issue in issues] == ["t"]
    assert "no_such_filter" in issues[0].message
