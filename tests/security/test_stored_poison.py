"""Stored poison and unhandled exceptions at the boundaries (issue 7, items 5 and 10).

Each case was reported: a value the studio accepted (or half-stored) and then
could not show, or an exception that became a 500. Every one must now be a 400
naming the field, with nothing stored, and every list page must keep working.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from agents.models import Run, Workflow, WorkflowVersion
from studio.models import Project
from tests.conftest import demo_graph

RUNS = "/api/v1/projects/acme/workflows/qa/runs"
IMPORT = "/api/v1/projects/acme/workflows/import/"
INGEST = "/api/v1/traces/ingest"


@pytest.fixture
def qa(project: Project) -> Workflow:
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    return workflow


@pytest.fixture
def owner(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def post_raw(client: Client, url: str, text: str) -> Any:
    """POST ``text`` verbatim as JSON (so escapes like ``\\ud800`` reach the server's parser)."""
    return client.post(url, data=text.encode(), content_type="application/json")


def assert_lists_still_work(client: Client) -> None:
    for url in ("/api/v1/projects/acme/runs", "/api/v1/projects/acme/workflows/", "/p/acme/"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def assert_names_field(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["detail"] + json.dumps(body.get("errors")), body


# ----------------------------------------------------------------- run inputs


def test_lone_surrogate_in_run_input_is_a_400_and_nothing_is_stored(qa: Workflow, owner: Client) -> None:
    response = post_raw(owner, RUNS, '{"inputs": {"question": "\\ud800"}}')
    assert_names_field(response, "inputs.question")
    assert response.json()["code"] == "invalid_json"
    assert not Run.objects.exists()
    assert_lists_still_work(owner)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"inputs": {"question": "a\\u0000b"}}', "inputs.question"),
        ('{"inputs": {"question": "hi"}, "budget_usd": NaN}', "budget_usd"),
        ('{"inputs": {"question": "hi"}, "budget_usd": Infinity}', "budget_usd"),
        ('{"inputs": {"question": "hi"}, "budget_usd": 1e400}', "budget_usd"),
        ('{"inputs": {"question": "hi"}, "budget_tokens": 99999999999999999999999}', "budget_tokens"),
        ('{"inputs": {"\\udfff": "hi"}}', "inputs"),
    ],
)
def test_unstorable_json_values_are_refused_by_the_parser(qa: Workflow, owner: Client, text: str, field: str) -> None:
    response = post_raw(owner, RUNS, text)
    assert_names_field(response, field)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": {"question": "hi"}, "budget_usd": "1e30"}, "budget_usd"),
        ({"inputs": {"question": "hi"}, "budget_usd": 1e30}, "budget_usd"),
        ({"inputs": {"question": "hi"}, "budget_tokens": 2**40}, "budget_tokens"),
        ({"inputs": {"question": "hi"}, "version": 2**40}, "version"),
    ],
)
def test_out_of_range_run_settings_are_a_400(qa: Workflow, owner: Client, body: dict[str, Any], field: str) -> None:
    response = owner.post(RUNS, data=json.dumps(body), content_type="application/json")
    assert_names_field(response, field)
    assert not Run.objects.exists()
    assert_lists_still_work(owner)


def test_run_start_service_refuses_a_lone_surrogate_from_any_caller(qa: Workflow, alice: Any) -> None:
    """Forms and the CLI reach run_start without the API's parser: the service refuses too."""
    from agents.services.runs import RunInputError, run_start

    with pytest.raises(RunInputError) as caught:
        run_start(workflow=qa, user=alice, inputs={"question": "\ud800"}, version=None)
    assert "question" in caught.value.errors
    assert not Run.objects.exists()


# ----------------------------------------------------------------- imports


@pytest.mark.parametrize("budget", ["1e30", 1e30, "Infinity", "NaN", "-1", "0.0000001", 10**7])
def test_import_with_an_unstorable_budget_is_a_400(qa: Workflow, owner: Client, budget: Any) -> None:
    document = {
        "studio_export": 1,
        "kind": "workflow",
        "workflow": {"name": "Poison", "settings": {"budget_usd": budget}},
        "graph": demo_graph("question-answering"),
    }
    response = owner.post(IMPORT, data=json.dumps({"document": document}), content_type="application/json")
    assert_names_field(response, "workflow.settings.budget_usd")
    assert not Workflow.objects.filter(name="Poison").exists()
    assert_lists_still_work(owner)


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        (
            "studio_export: 1\nworkflow: {name: P, settings: {budget_tokens: 99999999999999999999}}\ngraph: {schema: 1, nodes: [], edges: []}\n",
            "workflow.settings.budget_tokens",
        ),
        (
            "studio_export: 1\nworkflow: {name: P, settings: {timeout_s: 4294967296}}\ngraph: {schema: 1, nodes: [], edges: []}\n",
            "workflow.settings.timeout_s",
        ),
        ('studio_export: 1\nworkflow: {name: "\\ud800"}\ngraph: {schema: 1, nodes: [], edges: []}\n', "workflow.name"),
        (
            "studio_export: 1\nworkflow: {name: P}\ngraph: {schema: 1, nodes: [{id: a, type: input, label: x, config: {}, position: {x: .inf, y: 0}}], edges: []}\n",
            "position",
        ),
        (
            "studio_export: 1\nworkflow: {name: P}\ngraph: {schema: 1, nodes: [{id: a, type: input, label: x, config: {}, position: {x: 1.0e+300, y: 0}}], edges: []}\n",
            "position",
        ),
    ],
)
def test_yaml_import_values_are_bounded_too(owner: Client, project: Project, yaml_text: str, field: str) -> None:
    response = owner.post(IMPORT, data=yaml_text.encode(), content_type="application/yaml")
    assert_names_field(response, field)
    assert not Workflow.objects.exists()


# ----------------------------------------------------------------- drafts


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda g: g["nodes"][0].update(label="\ud800"), "nodes[0].label"),
        (lambda g: g["nodes"][0].update(position={"x": 1e308, "y": 0}), "position"),
        (lambda g: g["nodes"][0]["config"].update(note="x\x00y"), "nodes[0].config.note"),
    ],
)
def test_draft_with_unstorable_values_is_a_400(
    qa: Workflow, alice: Any, owner: Client, mutate: Any, field: str
) -> None:
    from agents.services.workflows import GraphShapeError, workflow_draft_save

    graph = demo_graph("question-answering")
    mutate(graph)
    # The service (used by the editor and the API alike) refuses; the JSON parser refuses even earlier.
    with pytest.raises(GraphShapeError) as caught:
        workflow_draft_save(workflow=qa, user=alice, graph=graph, base_revision=qa.draft_revision)
    assert field in json.dumps([issue.as_dict() for issue in caught.value.issues])
    text = json.dumps({"graph": graph, "base_revision": qa.draft_revision}, ensure_ascii=True)
    response = owner.put(f"/api/v1/workflows/{qa.pk}/draft/", data=text.encode(), content_type="application/json")
    assert_names_field(response, field.split("[")[0])
    qa.refresh_from_db()
    assert qa.draft_revision == 1


# ----------------------------------------------------------------- trace ingest


def ingest_body(**span: Any) -> dict[str, Any]:
    base = {"node_id": "answerer", "model": "m", "input_tokens": 1, "output_tokens": 1, "latency_ms": 5}
    return {"workflow": {"project": "acme", "slug": "qa"}, "spans": [{**base, **span}]}


@pytest.mark.parametrize(
    ("span", "field"),
    [
        ({"latency_ms": 1e308}, "latency_ms"),  # was: OverflowError in timedelta → 500
        ({"input_tokens": 2**40}, "input_tokens"),  # was: integer out of range → 500
        ({"output_tokens": 2**63 - 1}, "output_tokens"),
        ({"started_at": 1e300}, "started_at"),
        ({"latency_ms": -1}, "latency_ms"),
    ],
)
def test_trace_ingest_refuses_out_of_range_numbers(
    qa: Workflow, owner: Client, span: dict[str, Any], field: str
) -> None:
    from traces.models import Span

    response = owner.post(INGEST, data=json.dumps(ingest_body(**span)), content_type="application/json")
    assert_names_field(response, field)
    assert not Span.objects.exists()


def test_trace_ingest_refuses_a_lone_surrogate_in_a_span(qa: Workflow, owner: Client) -> None:
    text = json.dumps(ingest_body(output={"text": "PLACEHOLDER"})).replace("PLACEHOLDER", "\\ud83d")
    response = post_raw(owner, INGEST, text)
    assert_names_field(response, "spans[0].output.text")


# ----------------------------------------------------------------- export


def test_python_export_of_a_draft_with_an_invalid_node_is_a_400(qa: Workflow, owner: Client) -> None:
    graph = demo_graph("question-answering")
    agent = next(node for node in graph["nodes"] if node["type"] == "agent")
    agent["config"] = {"outputs": "not a list", "max_tokens": "many"}
    Workflow.objects.filter(pk=qa.pk).update(draft_graph=graph)
    response = owner.get(f"/api/v1/workflows/{qa.pk}/export/?format=python")
    assert response.status_code == 400, response.content
    assert "cannot be exported" in response.json()["detail"]


def test_budget_bounds_match_the_columns() -> None:
    """The bound the API and imports enforce is exactly what ``DECIMAL(12, 6)`` holds."""
    from studio.lib.jsonsafe import MAX_BUDGET_USD

    for model in (Workflow, Run):
        field = model._meta.get_field("budget_usd")
        limit = Decimal(MAX_BUDGET_USD).as_tuple()
        assert limit.exponent == -field.decimal_places
        assert limit.digits == (9,) * field.max_digits
