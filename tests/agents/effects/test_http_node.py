"""The ``http`` node on a real worker: guarded by the admin allow-list, secrets in headers, at most once."""

from __future__ import annotations

import socket

import pytest

from agents.models import RunStatus, SideEffect, Step, Workflow
from agents.services.runs import run_start, run_wait
from studio.crypto import secret_create
from studio.models import EgressAllowedHost
from tests.agents.effects.helpers import graph, text_field

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def loopback_name() -> str:
    """This machine's name, which resolves to a loopback address (the engine refuses a literal 127.0.0.1
    statically, so a name is the way to reach the test server)."""
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        pytest.skip(f"the host name {name!r} does not resolve")
    if not address.startswith("127."):
        pytest.skip(f"the host name {name!r} resolves to {address}, not to loopback")
    return name


def post_graph(url: str) -> dict:
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("message")]}},
            {"id": "notify", "type": "http",
             "config": {"method": "POST", "url": url, "inputs": [text_field("message")],
                        "headers": {"Authorization": 'Bearer {{ secret("HOOK_TOKEN") }}'},
                        "body": {"text": "{{ message }}"}}},
            {"id": "output", "type": "output",
             "config": {"fields": [{"name": "status", "type": "int"}, {"name": "echo", "type": "object"}]}},
        ],
        [("input", "message", "notify", "message"), ("notify", "status", "output", "status"),
         ("notify", "body", "output", "echo")],
    )


def test_an_allowed_host_is_called_with_the_secret_and_recorded_once(project, alice, http_server, loopback_name,
                                                                     celery_worker_proc):
    EgressAllowedHost.objects.create(project=project, host=http_server.allow(loopback_name), note="the test server")
    secret_create(project=project, name="HOOK_TOKEN", value="hook-secret-1")
    url = f"http://{loopback_name}:{http_server.port}/echo"
    workflow = Workflow.objects.create(project=project, slug="notify", name="Notify", draft_graph=post_graph(url))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"message": "hi"}).pk, timeout_s=120)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs["status"] == 201
    assert run.outputs["echo"]["body"] == {"text": "hi"}
    assert run.outputs["echo"]["headers"]["authorization"] == "Bearer [REDACTED]"  # echoed back, redacted
    assert [r["method"] for r in http_server.requests] == ["POST"]
    assert http_server.requests[0]["headers"]["Authorization"] == "Bearer hook-secret-1"
    effect = SideEffect.objects.get(run=run)
    assert (effect.key, effect.status, effect.response_status) == ("notify:", "answered", 201)
    step = Step.objects.get(run=run, node_id="notify")
    assert "hook-secret-1" not in str(step.inputs)


def test_a_host_that_is_not_allowed_fails_the_step_without_a_request(project, alice, http_server, loopback_name,
                                                                     celery_worker_proc):
    secret_create(project=project, name="HOOK_TOKEN", value="hook-secret-1")
    url = f"http://{loopback_name}:{http_server.port}/echo"
    workflow = Workflow.objects.create(project=project, slug="notify", name="Notify", draft_graph=post_graph(url))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"message": "hi"}).pk, timeout_s=120)
    assert run.status == RunStatus.FAILED
    assert run.failed_node == "notify" and run.error_code == "forbidden_host"
    assert "loopback" in run.error
    assert http_server.requests == []
