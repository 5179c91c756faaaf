"""Run events as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.events import event_append
from agents.models import Run, RunStatus, Workflow
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_run(project):
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    run = Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, inputs={"question": "x"},
                             status=RunStatus.SUCCEEDED)
    for type_ in ("run.queued", "run.started", "step.started", "step.finished", "run.finished"):
        event_append(run_id=run.pk, type=type_, payload={"status": "succeeded"})
    return run


def _events(response) -> list[tuple[str, str]]:
    body = b"".join(response).decode()  # the stream is an async generator: the test client drains it
    blocks = [block for block in body.split("\n\n") if block.startswith("id:")]
    return [(block.split("\n")[0][4:], block.split("\n")[1][7:]) for block in blocks]


def test_sse_replays_every_event_then_ends_with_the_run(finished_run, alice):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(f"/api/v1/runs/{finished_run.pk}/events")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert _events(response) == [("1", "run.queued"), ("2", "run.started"), ("3", "step.started"),
                                 ("4", "step.finished"), ("5", "run.finished")]


def test_sse_resumes_after_last_event_id(finished_run, alice):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(f"/api/v1/runs/{finished_run.pk}/events", HTTP_LAST_EVENT_ID="3")
    assert [seq for seq, _ in _events(response)] == ["4", "5"]


def test_sse_refuses_a_bad_cursor_and_strangers(finished_run, alice, charlie):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(f"/api/v1/runs/{finished_run.pk}/events", HTTP_LAST_EVENT_ID="abc")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    client.force_authenticate(charlie)
    assert client.get(f"/api/v1/runs/{finished_run.pk}/events").status_code == 404


def test_sse_accepts_what_eventsource_sends(finished_run, alice):
    """``Accept: text/event-stream`` (every browser's EventSource) is not refused by content negotiation."""
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(f"/api/v1/runs/{finished_run.pk}/events", HTTP_ACCEPT="text/event-stream",
                          HTTP_LAST_EVENT_ID="4")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert _events(response) == [("5", "run.finished")]


def test_sse_errors_reach_an_eventsource_client_as_an_error_event(finished_run, alice):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get(f"/api/v1/runs/{finished_run.pk}/events", HTTP_ACCEPT="text/event-stream",
                          HTTP_LAST_EVENT_ID="x")
    assert response.status_code == 400
    assert response.content.startswith(b"event: error\ndata: ")
    assert b"invalid_cursor" in response.content
