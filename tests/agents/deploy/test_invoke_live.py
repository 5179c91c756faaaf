"""The invoke API through daphne, a Celery worker and the local model: sync, 202 over wait_s, idempotency, SSE."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from jsonschema import Draft202012Validator

from agents.deploy.openapi import invoke_snippets
from agents.deploy.services import deployment_create
from agents.models import Run, RunStatus, Workflow
from agents.services.runs import run_wait
from agents.services.workflows import workflow_publish
from studio.models import ApiKey, Role
from tests.conftest import demo_graph

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


@pytest.fixture
def deployed(project, alice, local_endpoint):
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    version = workflow_publish(workflow=workflow, user=alice)
    deployment_create(workflow=workflow, version=version, user=alice)
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="invoke", prefix=raw[:10], hashed_key=ApiKey.hash(raw), role=Role.RUNNER, user=alice
    )
    return workflow, {"Authorization": f"Bearer {raw}"}


def test_invoke_answers_with_the_local_models_outputs_synchronously(
    deployed, live_asgi_server, celery_worker_proc, local_model
):
    _workflow, headers = deployed
    url = f"{live_asgi_server}/api/v1/projects/acme/workflows/qa/invoke"
    request_body = {"inputs": {"question": "What colour is the sky?"}, "wait_s": 300}
    response = httpx.post(url, json=request_body, headers=headers, timeout=320)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded", body
    assert isinstance(body["outputs"]["answer"], str) and body["outputs"]["answer"]
    assert body["input_tokens"] > 0 and body["output_tokens"] > 0
    assert body["cost_usd"] == "0E-8" or float(body["cost_usd"]) == 0.0
    run = Run.objects.get(pk=body["run"])
    assert run.outputs == body["outputs"]
    assert run.version.version == 1
    # the per-workflow OpenAPI document validates this real request and response
    document = httpx.get(f"{live_asgi_server}/api/v1/projects/acme/workflows/qa/openapi.json", headers=headers).json()
    assert document["servers"] == [{"url": live_asgi_server}]
    for name, instance in (("InvokeRequest", request_body), ("InvokeResult", body)):
        Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"}).validate(instance)


def test_invoke_answers_202_past_wait_s_and_an_idempotency_key_returns_the_same_run(
    deployed, live_asgi_server, celery_worker_proc, local_model
):
    workflow, headers = deployed
    url = f"{live_asgi_server}/api/v1/projects/acme/workflows/qa/invoke"
    keyed = {**headers, "Idempotency-Key": "ticket-7"}
    first = httpx.post(
        url, json={"inputs": {"question": "Why is grass green?"}, "wait_s": 0}, headers=keyed, timeout=30
    )
    assert first.status_code == 202, first.text
    run_id = first.json()["run"]
    assert first.json()["url"] == f"/api/v1/runs/{run_id}"
    assert first.headers["Location"] == f"/api/v1/runs/{run_id}"
    run_wait(run_id, timeout_s=300)
    again = httpx.post(url, json={"inputs": {"question": "Why is grass green?"}}, headers=keyed, timeout=30)
    assert again.status_code == 200
    assert again.json()["run"] == run_id
    assert again.json()["status"] == "succeeded"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Run.objects.filter(workflow=workflow).count() == 1


def test_invoke_streams_step_events_then_the_result(deployed, live_asgi_server, celery_worker_proc, local_model):
    _workflow, headers = deployed
    url = f"{live_asgi_server}/api/v1/projects/acme/workflows/qa/invoke?mode=stream"
    events: list[tuple[str, dict]] = []
    with httpx.stream(
        "POST", url, json={"inputs": {"question": "Name a planet."}}, headers=headers, timeout=320
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    types = [name for name, _ in events]
    assert types[0] == "run.queued"
    assert "step.finished" in types
    assert types[-2:] == ["run.finished", "result"]
    result = events[-1][1]
    assert result["status"] == RunStatus.SUCCEEDED
    assert result["outputs"]["answer"]


def test_the_api_tabs_python_and_curl_snippets_work_when_pasted(
    deployed, live_asgi_server, celery_worker_proc, local_model
):
    workflow, headers = deployed
    snippets = invoke_snippets(workflow=workflow, version=workflow.versions.get(), server_url=live_asgi_server)
    env = {**os.environ, "STUDIO_API_KEY": headers["Authorization"].removeprefix("Bearer ")}
    for command in ([sys.executable, "-c", snippets["python"]], ["bash", "-c", snippets["curl"]]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=320, check=False)
        assert done.returncode == 0, done.stderr
        assert "succeeded" in done.stdout, done.stdout
    assert Run.objects.filter(workflow=workflow, status=RunStatus.SUCCEEDED).count() == 2
