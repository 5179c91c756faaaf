"""Deeply nested documents are a 4xx with a message, never a RecursionError
and a 500 (issue 7, item 10): API bodies, JSON and YAML imports, graphs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Workflow
from studio.lib.documents import MAX_DEPTH, DocumentTooDeep, check_depth, loads_json
from studio.models import Project

DEPTHS = [MAX_DEPTH + 1, 500, 1000, 5000]


def nested_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_depth_is_measured_without_recursion():
    check_depth(json.loads(nested_json(MAX_DEPTH)))
    with pytest.raises(DocumentTooDeep, match=f"deeper than {MAX_DEPTH} levels"):
        check_depth(json.loads(nested_json(MAX_DEPTH + 1)))
    deep: Any = 1
    for _ in range(100_000):  # far past the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(DocumentTooDeep):
        check_depth(deep)
    with pytest.raises(DocumentTooDeep):
        loads_json("[" * 100_000 + "]" * 100_000)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deeply_nested_api_body_is_a_400(project: Project, alice: Any, depth: int) -> None:
    workflow = Workflow.objects.create(project=project, slug="wf", name="WF")
    client = _client(alice)
    inputs = '{"inputs": {"q": ' + nested_json(depth) + '}, "draft": true}'
    graph = '{"graph": ' + nested_json(depth) + ', "base_revision": 0}'

    responses = [
        client.post("/api/v1/projects/acme/workflows/wf/runs", inputs, content_type="application/json"),
        client.put(f"/api/v1/workflows/{workflow.pk}/draft/", graph, content_type="application/json"),
        client.post(f"/api/v1/workflows/{workflow.pk}/validate/", graph, content_type="application/json"),
    ]

    for response in responses:
        assert response.status_code == 400, response.content[:300]
        assert "nested" in response.json()["detail"]


def test_a_graph_deeper_than_the_limit_is_refused_by_the_shape_check() -> None:
    from agents.services.workflows import check_graph_shape

    deep: Any = {}
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    graph = {"schema": 1, "nodes": [{"id": "n", "type": "template", "label": "", "config": deep}], "edges": []}

    issues = check_graph_shape(graph)

    assert [(issue.code, issue.message) for issue in issues] == [
        ("too_deep", f"The graph is nested deeper than {MAX_DEPTH} levels.")
    ]


def yaml_flow(depth: int) -> str:
    return "graph: " + "[" * depth + "]" * depth + "\n"


def yaml_block(depth: int) -> str:
    return "".join("  " * level + "a:\n" for level in range(depth)) + "  " * depth + "b: 1\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (nested_json(500), "application/json"),
        (nested_json(1000), "application/json"),
        (yaml_flow(1000), "application/yaml"),
        (yaml_flow(20_000), "application/yaml"),
        (yaml_block(500), "application/yaml"),
        ("studio_export: 1\nworkflow: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", "text/yaml"),
    ],
    ids=["json-500", "json-1000", "yaml-flow-1000", "yaml-flow-20000", "yaml-block-500", "yaml-mapping-1000"],
)
def test_a_deeply_nested_import_is_a_400_with_a_message(project: Project, alice: Any, body: str, ctype: str) -> None:
    response = _client(alice).post("/api/v1/projects/acme/workflows/import/", data=body, content_type=ctype)

    assert response.status_code == 400, response.content[:300]
    assert "nested deeper than 100 levels" in response.json()["detail"]
    assert not Workflow.objects.exists()


@pytest.mark.django_db
def test_the_editor_inspector_refuses_a_deeply_nested_node_with_a_400(project: Project, alice: Any) -> None:
    Workflow.objects.create(project=project, slug="wf", name="WF")

    response = _client(alice).post("/p/acme/w/wf/edit/inspector/", {"node": nested_json(1000)})

    assert response.status_code == 400
    assert b"nested too deeply" in response.content
