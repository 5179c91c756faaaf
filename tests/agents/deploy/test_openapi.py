"""The per-workflow OpenAPI document and the API tab (snippets). Live calls: test_invoke_live.py."""

from __future__ import annotations

import pytest
from django.test import Client
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from agents.deploy.models import Deployment
from agents.deploy.openapi import invoke_snippets
from agents.models import Workflow, WorkflowVersion
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db
DOC = "/api/v1/projects/acme/workflows/qa/openapi.json"


def validator(document: dict, name: str) -> Draft202012Validator:
    """A validator of ``#/components/schemas/<name>`` with the document as the root (its $refs resolve)."""
    return Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"})


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    Deployment.objects.create(workflow=workflow, version=version)
    return workflow


def test_the_document_types_the_request_and_response_from_the_signatures(qa, bob):
    client = APIClient()
    client.force_authenticate(bob)  # viewers may read it
    response = client.get(DOC)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    Draft202012Validator.check_schema(document["components"]["schemas"]["InvokeRequest"])
    operation = document["paths"]["/api/v1/projects/acme/workflows/qa/invoke"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["example"]
    assert list(example["inputs"]) == ["question"]
    request = validator(document, "InvokeRequest")
    assert request.is_valid(example)
    assert request.is_valid({"inputs": {"question": "Why?"}, "wait_s": 5})
    assert not request.is_valid({"inputs": {"question": 42}})
    assert not request.is_valid({"inputs": {}})
    assert not request.is_valid({"inputs": {"question": "Why?", "extra": 1}})
    outputs = document["components"]["schemas"]["Outputs"]
    assert set(outputs["properties"]) == {"answer", "confidence"}
    result = validator(document, "InvokeResult")
    assert result.is_valid(operation["responses"]["200"]["content"]["application/json"]["example"])
    assert not result.is_valid(
        {
            "run": 1,
            "status": "succeeded",
            "outputs": {"answer": 3},
            "cost_usd": "0",
            "input_tokens": 1,
            "output_tokens": 1,
            "url": "/api/v1/runs/1",
        }
    )


def test_no_document_without_a_live_version(project, alice):
    graph = demo_graph("question-answering")
    Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(DOC)
    assert response.status_code == 404
    assert response.json()["code"] == "not_deployed"


def test_the_api_tab_shows_ready_snippets(qa, alice):
    client = Client()
    client.force_login(alice)
    page = client.get("/p/acme/w/qa/api/").content.decode()
    assert "http://testserver/api/v1/projects/acme/workflows/qa/invoke" in page
    assert "$STUDIO_API_KEY" in page and "os.environ[&quot;STUDIO_API_KEY&quot;]" in page
    assert "JSON.stringify" in page
    assert "/api/v1/projects/acme/workflows/qa/openapi.json" in page
    assert "/p/acme/settings/keys/" in page  # alice may create keys


def test_user_strings_reach_the_snippets_only_as_literals(project):
    graph = demo_graph("question-answering")
    graph["nodes"][0]["config"]["fields"][0]["description"] = 'it\'s "quoted" $(rm -rf /) `x`'
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    snippets = invoke_snippets(workflow=workflow, version=version, server_url="http://studio.example/")
    python = snippets["python"]
    compile(python, "<snippet>", "exec")
    assert 'it\'s \\"quoted\\"' not in python  # repr, not pasted text
    import shlex

    data = shlex.split(snippets["curl"].replace("\\\n", " "))[-1]
    assert "$(rm -rf /)" in data  # inside single quotes: never expanded by the shell


def test_the_javascript_snippet_parses(qa, tmp_path):
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "invoke.js"
    script.write_text(invoke_snippets(workflow=qa, version=qa.versions.get(), server_url="http://x/")["javascript"])
    done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_api_page_lists_triggers_for_editors_only(qa, alice, bob):
    from agents.deploy.schedules import schedule_save
    from agents.deploy.webhooks import webhook_create

    trigger, _ = webhook_create(workflow=qa, user=alice, name="github", input_map={"question": "body.title"})
    schedule_save(
        workflow=qa,
        user=alice,
        data={"name": "nightly", "cron": "0 3 * * *", "timezone": "UTC", "inputs": {"question": "Status?"}},
    )
    client = Client()
    client.force_login(alice)
    page = client.get("/p/acme/w/qa/api/").content.decode()
    assert f"http://testserver/api/v1/hooks/{trigger.token}" in page
    assert "nightly" in page and "03:00 UTC" in page
    client.force_login(bob)
    page = client.get("/p/acme/w/qa/api/").content.decode()
    assert trigger.token not in page and "nightly" not in page
