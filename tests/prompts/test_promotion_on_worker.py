"""A label move reaches an already running Celery worker: its next run uses the new version (no restart)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


def _field(name: str) -> dict[str, Any]:
    return {"name": name, "type": "str", "description": name, "required": True}


GRAPH = {
    "schema": 1,
    "nodes": [
        {
            "id": "input",
            "type": "input",
            "label": "In",
            "position": {"x": 0, "y": 0},
            "config": {"fields": [_field("name")]},
        },
        {
            "id": "greeter",
            "type": "llm",
            "label": "Greeter",
            "position": {"x": 200, "y": 0},
            "config": {
                "endpoint": "local",
                "prompt": {"slug": "greeting", "label": "production"},
                "inputs": [_field("name")],
                "params": {"max_tokens": 8},
            },
        },
        {
            "id": "output",
            "type": "output",
            "label": "Out",
            "position": {"x": 400, "y": 0},
            "config": {"fields": [_field("text")]},
        },
    ],
    "edges": [
        {"id": "e1", "source": "input", "source_port": "name", "target": "greeter", "target_port": "name"},
        {"id": "e2", "source": "greeter", "source_port": "text", "target": "output", "target_port": "text"},
    ],
}


def _run_and_version(workflow: Workflow, user: Any) -> tuple[int, Any]:
    run = run_wait(run_start(workflow=workflow, user=user, inputs={"name": "Ada"}).pk, timeout_s=300)
    assert run.status == RunStatus.SUCCEEDED, run.error
    span = Span.objects.get(run_id=run.pk, node_id="greeter")
    return span.prompt_version_id, run


def test_promotion_reaches_the_running_worker(project, alice, local_endpoint, local_model, celery_worker_proc) -> None:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Say hi to {{ name }}."}], variables=["name"]
    )
    v2 = prompt_version_commit(
        prompt=prompt,
        user=alice,
        messages=[{"role": "user", "content": "Greet {{ name }} warmly."}],
        variables=["name"],
    )
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    workflow = Workflow.objects.create(project=project, slug="greet", name="Greet", draft_graph=GRAPH)

    # Twice on v1: the second run is served from the worker's caches.
    assert _run_and_version(workflow, alice)[0] == v1.pk
    assert _run_and_version(workflow, alice)[0] == v1.pk
    pid_before = celery_worker_proc.pid

    prompt_label_move(prompt=prompt, label="production", version=v2, user=alice, expected_version=1)

    version_id, run = _run_and_version(workflow, alice)
    assert version_id == v2.pk
    assert celery_worker_proc.poll() is None and celery_worker_proc.pid == pid_before  # never restarted
    step = run.steps.get(node_id="greeter")
    assert step.status == "succeeded"
