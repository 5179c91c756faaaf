"""The runs REST API: access checks, validation errors with stable codes, API keys. No 500s on bad input."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Run, Workflow, WorkflowVersion
from studio.models import ApiKey, Role
from tests.conftest import demo_graph

URL = "/api/v1/projects/acme/workflows/qa/runs"


@pytest.fixture
def qa(project):
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    return workflow


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_stranger_gets_404_and_viewer_403_when_starting_a_run(qa, bob, charlie):
    assert client_for(charlie).post(URL, {"inputs": {"question": "hi"}}, format="json").status_code == 404
    response = client_for(bob).post(URL, {"inputs": {"question": "hi"}}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"inputs": {}}, "invalid_inputs", "question"),
        ({"inputs": {"question": 42}}, "invalid_inputs", "question"),
        ({"inputs": {"question": "hi", "extra": 1}}, "invalid_inputs", None),
        ({"inputs": "not an object"}, "invalid", "inputs"),
        ({"inputs": {"question": "hi"}, "version": 99}, "not_found", None),
    ],
)
def test_bad_run_bodies_get_a_4xx_with_a_stable_code(qa, alice, body, code, field):
    response = client_for(alice).post(URL, body, format="json")
    assert 400 <= response.status_code < 500
    data = response.json()
    assert data["code"] == code
    if field:
        assert field in str(data.get("errors"))
    assert Run.objects.count() == 0


def test_malformed_json_body_is_a_400(qa, alice):
    response = client_for(alice).post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_invalid_graph_is_refused_naming_the_node(project, alice):
    graph = demo_graph("question-answering")
    graph["edges"] = [e for e in graph["edges"] if e["target"] != "answerer"]
    Workflow.objects.create(project=project, slug="broken", name="Broken", draft_graph=graph)
    response = client_for(alice).post("/api/v1/projects/acme/workflows/broken/runs",
                                      {"inputs": {"question": "hi"}, "draft": True}, format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "invalid_graph"
    assert any(issue["node_id"] == "answerer" for issue in data["errors"])


def test_api_key_authenticates_and_is_scoped_to_its_project(qa, alice, project):
    raw = ApiKey.generate()
    ApiKey.objects.create(project=project, name="ci", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.VIEWER,
                          user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/projects/acme/runs").status_code == 200
    assert client.post(URL, {"inputs": {"question": "hi"}}, format="json").status_code == 403  # viewer key
    client.credentials(HTTP_AUTHORIZATION="Bearer sk_wrong")
    response = client.get("/api/v1/projects/acme/runs")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_run_detail_of_another_tenant_is_404(qa, alice, charlie, project):
    run = Run.objects.create(project=project, workflow=qa, graph=qa.draft_graph, inputs={"question": "x"})
    assert client_for(charlie).get(f"/api/v1/runs/{run.pk}").status_code == 404
    assert client_for(alice).get(f"/api/v1/runs/{run.pk}").json()["id"] == run.pk


def test_openapi_schema_lists_the_run_endpoints(alice):
    response = client_for(alice).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/runs/{run_id}" in paths
    assert "/api/v1/projects/{project_slug}/workflows/{workflow_slug}/runs" in paths
