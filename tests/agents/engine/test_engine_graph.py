from __future__ import annotations

import copy

import pytest

from agents.engine import (
    GraphValidationError,
    InputValidationError,
    check_graph,
    check_inputs,
    input_signature,
    node_catalog,
    node_ports,
    output_signature,
    parse_graph,
    validate_graph,
)
from tests.agents.engine.engine_testkit import agent, edge, field_, graph, io_graph, node


def qa_graph() -> dict:
    return io_graph(
        [agent("qa", [field_("question")], [field_("answer")], label="Answerer")],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )


def codes(doc: dict) -> list[str]:
    return [issue.code for issue in validate_graph(doc)]


def test_a_valid_graph_has_no_issues():
    assert validate_graph(qa_graph()) == []
    assert check_graph(qa_graph()).node("qa").label == "Answerer"


@pytest.mark.parametrize(
    "doc",
    [
        {"nodes": []},
        {"schema": 2, "nodes": [], "edges": []},
        {"schema": 1, "nodes": [{"type": "input"}], "edges": []},
        {"schema": 1, "nodes": [{"id": "has space", "type": "input"}], "edges": []},
        {"schema": 1, "nodes": "nope", "edges": []},
    ],
)
def test_a_malformed_document_is_invalid_document(doc):
    issues = validate_graph(doc)
    assert issues and {i.code for i in issues} == {"invalid_document"}


def test_an_unknown_node_type_is_reported_with_the_node():
    doc = qa_graph()
    doc["nodes"].append(node("x", "teleport", "Beam"))

    issues = validate_graph(doc)

    assert [(i.code, i.node_id) for i in issues] == [("unknown_node_type", "x")]
    assert issues[0].message == "Node \"Beam\" (x): unknown node type 'teleport'."


def test_an_invalid_config_is_reported_per_problem():
    doc = qa_graph()
    doc["nodes"][1]["config"]["endpoint"] = ""
    doc["nodes"][1]["config"]["params"] = "hot"

    issues = validate_graph(doc)

    assert {i.code for i in issues} == {"invalid_config"}
    assert any("params" in i.message for i in issues)


def test_a_freshly_dropped_agent_is_clearly_invalid():
    doc = qa_graph()
    doc["nodes"][1]["config"] = {}

    messages = [i.message for i in validate_graph(doc) if i.code == "invalid_config"]

    assert messages == ['Node "Answerer" (qa): choose a model endpoint.']


def test_an_edge_to_a_missing_node_is_dangling():
    doc = qa_graph()
    doc["edges"].append(edge("ghost", "x", "out", "answer"))

    assert "dangling_edge" in codes(doc)


def test_an_edge_from_or_to_an_unknown_port_is_reported():
    doc = qa_graph()
    doc["edges"][0]["source_port"] = "query"
    doc["edges"][1]["target_port"] = "reply"

    issues = [i for i in validate_graph(doc) if i.code == "unknown_port"]

    assert [i.message for i in issues] == [
        'Node "Input" (in) has no output "query" (edge \'in.question->qa.question\').',
        'Node "Output" (out) has no input "reply" (edge \'qa.answer->out.answer\').',
    ]


def test_a_cycle_is_reported_naming_its_nodes():
    doc = io_graph(
        [
            agent("a", [field_("x"), field_("y", required=False)], [field_("r")], label="A"),
            agent("b", [field_("x")], [field_("r")], label="B"),
        ],
        [
            edge("in", "question", "a", "x"),
            edge("a", "r", "b", "x"),
            edge("b", "r", "a", "y"),
            edge("b", "r", "out", "answer"),
        ],
    )

    issues = [i for i in validate_graph(doc) if i.code == "cycle"]

    assert len(issues) == 1
    assert issues[0].message == ('Edges form a cycle: "A" (a) → "B" (b) → "A" (a). Use a loop node to repeat steps.')


def test_a_required_input_without_an_edge_is_missing_input():
    doc = qa_graph()
    del doc["edges"][0]

    issues = validate_graph(doc)

    assert [(i.code, i.node_id) for i in issues] == [("missing_input", "qa")]
    assert issues[0].message == 'Node "Answerer" (qa): required input "question" has no incoming edge.'


def test_an_optional_input_may_stay_unconnected():
    doc = qa_graph()
    doc["nodes"][1]["config"]["inputs"].append(field_("hint", required=False))

    assert validate_graph(doc) == []


def test_incompatible_port_types_are_a_type_mismatch_naming_both_nodes():
    doc = io_graph(
        [
            agent("facts", [field_("question")], [field_("score", "float")], label="Facts"),
            agent("writer", [field_("facts")], [field_("answer")], label="Writer"),
        ],
        [
            edge("in", "question", "facts", "question"),
            edge("facts", "score", "writer", "facts"),
            edge("writer", "answer", "out", "answer"),
        ],
    )

    issues = validate_graph(doc)

    assert [i.code for i in issues] == ["type_mismatch"]
    assert issues[0].message == 'Node "Writer" (writer): input "facts" expects str but "Facts" (facts) gives float.'
    assert issues[0].edge_id == "facts.score->writer.facts"


def test_a_graph_without_input_or_output_node_is_reported():
    doc = graph([agent("a", [], [field_("r")])], [])

    assert codes(doc) == ["no_input_node", "no_output_node"]


def test_a_second_input_node_is_reported():
    doc = qa_graph()
    doc["nodes"].append(node("in2", "input", fields=[]))

    assert codes(doc) == ["multiple_input_nodes"]


def test_duplicate_node_and_edge_ids_are_reported():
    doc = qa_graph()
    doc["nodes"].append(copy.deepcopy(doc["nodes"][1]))
    doc["edges"].append(copy.deepcopy(doc["edges"][0]))

    assert codes(doc) == ["duplicate_id", "duplicate_id"]


def test_two_edges_into_one_port_are_reported():
    doc = qa_graph()
    doc["edges"].append({**edge("in", "question", "out", "answer")})

    issues = validate_graph(doc)

    assert [i.code for i in issues] == ["duplicate_edge_into_port"]
    assert "join node" in issues[0].message


def test_check_graph_raises_with_every_issue():
    doc = qa_graph()
    del doc["edges"][0]
    doc["nodes"].append(node("x", "teleport"))

    with pytest.raises(GraphValidationError) as info:
        check_graph(doc)

    assert {i.code for i in info.value.issues} == {"missing_input", "unknown_node_type"}


def test_input_and_output_signatures_come_from_the_io_nodes():
    doc = io_graph([], [], inputs=[field_("topic"), field_("n", "int", required=False, default=3)], outputs=[])

    assert input_signature(doc).names() == ["topic", "n"]
    assert output_signature(doc).names() == []


def test_check_inputs_coerces_and_fills_defaults():
    doc = io_graph([], [], inputs=[field_("topic"), field_("n", "int", required=False, default=3)])

    assert check_inputs(doc, {"topic": "owls"}) == {"topic": "owls", "n": 3}
    assert check_inputs(doc, {"topic": "owls", "n": "5"}) == {"topic": "owls", "n": 5}


def test_check_inputs_raises_with_field_messages():
    doc = io_graph([], [], inputs=[field_("topic"), field_("n", "int")])

    with pytest.raises(InputValidationError) as info:
        check_inputs(doc, {"n": "many"})

    assert set(info.value.field_errors) == {"topic", "n"}


def test_node_ports_adds_an_error_port_for_on_error_branch():
    doc = qa_graph()
    doc["nodes"][1]["config"]["on_error"] = "branch"

    inputs, outputs = node_ports(parse_graph(doc).node("qa"))

    assert inputs.names() == ["question"]
    assert outputs.names() == ["answer", "error"]


def test_on_error_default_needs_valid_default_outputs():
    doc = qa_graph()
    doc["nodes"][1]["config"]["on_error"] = "default"

    assert [i.message for i in validate_graph(doc)] == [
        "Node \"Answerer\" (qa): on_error 'default' needs default_outputs."
    ]

    doc["nodes"][1]["config"]["default_outputs"] = {"answer": 3}
    assert codes(doc) == ["invalid_config"]

    doc["nodes"][1]["config"]["default_outputs"] = {"answer": "unknown"}
    assert codes(doc) == []


def test_node_catalog_describes_every_type_with_a_default_config():
    catalog = {entry["type"]: entry for entry in node_catalog()}

    assert {"input", "output", "llm", "agent", "template"} <= set(catalog)
    for entry in catalog.values():
        assert entry["kind"] in {"io", "llm", "logic", "data", "integration", "human"}
        assert entry["title"] and entry["description"]
        assert entry["config_schema"]["type"] == "object"
        assert isinstance(entry["default_config"], dict)
    assert catalog["llm"]["default_config"]["outputs"] == [
        {
            "name": "text",
            "type": "str",
            "description": "The model's answer",
            "required": True,
            "default": None,
            "choices": [],
            "items": None,
        }
    ]


def test_every_default_config_parses_and_is_valid_or_clearly_invalid():
    for entry in node_catalog():
        doc = qa_graph()
        doc["nodes"].append(node("fresh", entry["type"], "Fresh", **entry["default_config"]))

        issues = [i for i in validate_graph(doc) if i.node_id == "fresh"]

        assert {i.code for i in issues} <= {
            "invalid_config",
            "missing_input",
            "multiple_input_nodes",
            "multiple_output_nodes",
        }, entry["type"]
        assert all(i.message.startswith('Node "Fresh" (fresh)') for i in issues)


def test_a_graph_validated_again_gives_the_same_issues_and_callers_cannot_change_them():
    broken = qa_graph()
    broken["edges"] = broken["edges"][:1]  # the output's input is no longer connected

    first = validate_graph(broken)
    first.append("a caller's own note")  # the result is the caller's list, not the remembered one
    again = validate_graph(copy.deepcopy(broken))

    assert [issue.code for issue in again] == ["missing_input"]
    assert validate_graph(qa_graph()) == []
