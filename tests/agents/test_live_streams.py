"""Live means live: SSE streamed while the run runs (queue mode and quickstart), and the quickstart
executor off the server's loop recovering runs a restart interrupted.

Every test talks to a real daphne over HTTP, as an ``EventSource`` does
(``Accept: text/event-stream``, ``Last-Event-ID`` on reconnect).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Run, RunStatus, Step, StepStatus, Workflow
from agents.services.approvals import approval_decide
from agents.services.runs import run_start, run_wait
from studio.models import ApiKey, Role
from tests.agents.effects.helpers import review_graph, template_graph
from tests.fixtures.services import ROOT, _test_env, _wait_until, free_port, stop

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def _read_events(
    base: str,
    run_id: int,
    user: Any,
    *,
    last_event_id: int | None = None,
    until: str,
    comments: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Connect like EventSource and read events until one of type ``until``; each event gets the
    time it arrived (``arrived``, aware datetime)."""
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=base, cookies=_session_cookie(user), timeout=120) as client,
        client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                if comments is not None:
                    comments.append(line)
                continue
            if line:
                name, _, value = line.partition(": ")
                block[name] = value
                continue
            if not block:
                continue
            event = {
                "id": int(block["id"]),
                "type": block["event"],
                "data": json.loads(block["data"]),
                "arrived": timezone.now(),
            }
            events.append(event)
            block = {}
            if event["type"] == until:
                break
    return events


@pytest.mark.worker
def test_sse_streams_events_while_the_run_runs_and_resumes_after_last_event_id(
    project, alice, live_asgi_server, celery_worker_proc
):
    workflow = Workflow.objects.create(project=project, slug="review", name="Review", draft_graph=review_graph())
    run = run_start(workflow=workflow, user=alice, inputs={"draft": "first draft"})

    first = _read_events(live_asgi_server, run.pk, alice, until="run.waiting")
    waiting = Run.objects.get(pk=run.pk)
    assert waiting.status == RunStatus.WAITING and waiting.finished_at is None  # the run has not ended
    assert [e["type"] for e in first][:2] == ["run.queued", "run.started"]
    assert [e["id"] for e in first] == list(range(1, len(first) + 1))

    approval_decide(run=waiting, node_id="review", approved=True, user=alice)
    rest = _read_events(live_asgi_server, run.pk, alice, last_event_id=first[-1]["id"], until="run.finished")
    assert [e["id"] for e in rest] == list(range(first[-1]["id"] + 1, first[-1]["id"] + 1 + len(rest)))
    finished = run_wait(run.pk, timeout_s=60)
    assert finished.status == RunStatus.SUCCEEDED, finished.error
    # The first events arrived before the run finished (streamed, not buffered until the end).
    assert finished.finished_at is not None and first[0]["arrived"] < finished.finished_at
    assert rest[-1]["data"]["payload"]["status"] == "succeeded"


# ----------------------------------------------------------------------------- quickstart


@pytest.fixture
def quickstart_server(django_db_setup, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Daphne with the in-process executor (quickstart's run path) on the test database; quick sweeps
    and heartbeats so the tests need not wait production intervals."""
    port = free_port()
    log = tmp_path / "daphne-quickstart.log"
    env = {
        **_test_env(),
        "STUDIO_EXECUTOR": "inprocess",
        "STUDIO_SWEEP_SECONDS": "0.5",
        "STUDIO_SSE_HEARTBEAT_S": "0.3",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_until(ready, 60, "daphne (quickstart)", proc, log)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def _interrupted(workflow: Workflow, inputs: dict[str, Any], **fields: Any) -> Run:
    """A run left ``running`` by a process that died: attempt 1, its lease expired."""
    now = timezone.now()
    fields.setdefault("attempt", 1)
    return Run.objects.create(
        project=workflow.project,
        workflow=workflow,
        graph=workflow.draft_graph,
        inputs=inputs,
        status=RunStatus.RUNNING,
        started_at=now - dt.timedelta(seconds=60),
        lease_expires_at=now - dt.timedelta(seconds=1),
        **fields,
    )


def _wait_terminal(run_ids: list[int], timeout_s: float = 60) -> dict[int, Run]:
    deadline = time.monotonic() + timeout_s
    while True:
        runs = {r.pk: r for r in Run.objects.filter(pk__in=run_ids)}
        if all(r.is_terminal for r in runs.values()) or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)  # the runs execute in the server process: their state is all we can wait on


def test_quickstart_recovers_runs_a_restart_interrupted_and_frees_the_running_cap(project, alice):
    project.max_running_runs = 2
    project.save(update_fields=["max_running_runs"])
    workflow = Workflow.objects.create(project=project, slug="greet", name="Greet", draft_graph=template_graph())
    resumed = _interrupted(workflow, {"name": "Ada"})
    Step.objects.create(
        run=resumed,
        node_id="input",
        node_type="input",
        status=StepStatus.SUCCEEDED,
        inputs={"name": "Ada"},
        outputs={"name": "Ada"},
        attempt=1,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    cancelled = _interrupted(workflow, {"name": "Bob"}, cancel_requested=True)
    queued = Run.objects.create(
        project=project, workflow=workflow, graph=workflow.draft_graph, inputs={"name": "Cy"}, status=RunStatus.QUEUED
    )  # behind the full cap

    server = _start_quickstart_later()
    try:
        runs = _wait_terminal([resumed.pk, cancelled.pk, queued.pk])
    finally:
        stop(server)
    assert runs[resumed.pk].status == RunStatus.SUCCEEDED, runs[resumed.pk].error
    assert runs[resumed.pk].outputs == {"text": "Hello Ada!"} and runs[resumed.pk].attempt == 2
    assert Step.objects.get(run=resumed, node_id="input").attempt == 1  # the committed step was reused
    assert runs[cancelled.pk].status == RunStatus.CANCELLED
    assert runs[queued.pk].status == RunStatus.SUCCEEDED and runs[queued.pk].outputs == {"text": "Hello Cy!"}


def _start_quickstart_later() -> subprocess.Popen:  # type: ignore[type-arg]
    """Start the quickstart server after the interrupted runs exist (its first sweep is at start)."""
    port = free_port()
    env = {**_test_env(), "STUDIO_EXECUTOR": "inprocess", "STUDIO_SWEEP_SECONDS": "0.5"}
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_quickstart_streams_sse_with_heartbeats_and_stays_responsive_while_a_run_waits(
    project, alice, quickstart_server
):
    workflow = Workflow.objects.create(project=project, slug="review", name="Review", draft_graph=review_graph())
    run = _interrupted(workflow, {"draft": "a draft"}, attempt=0)  # the quickstart sweeper picks it up

    comments: list[str] = []
    first = _read_events(quickstart_server, run.pk, alice, until="run.waiting")
    assert Run.objects.get(pk=run.pk).finished_at is None
    assert first[0]["type"] == "run.started"
    # Heartbeats on a waiting run's stream; the server answers HTTP meanwhile.
    with (
        httpx.Client(base_url=quickstart_server, cookies=_session_cookie(alice), timeout=30) as client,
        client.stream(
            "GET",
            f"/api/v1/runs/{run.pk}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(first[-1]["id"])},
        ) as stream,
    ):
        assert client.get("/healthz").status_code == 200
        for line in stream.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            if len(comments) >= 2:
                break
    assert comments == [": keep-alive", ": keep-alive"]

    # Decided through the quickstart server, which dispatches the run to its own executor.
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="t", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.RUNNER, user=alice
    )
    decided = httpx.post(
        f"{quickstart_server}/api/v1/runs/{run.pk}/approvals/review",
        json={"approved": True},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    )
    assert decided.status_code == 201, decided.text
    rest = _read_events(quickstart_server, run.pk, alice, last_event_id=first[-1]["id"], until="run.finished")
    assert rest[0]["id"] == first[-1]["id"] + 1
    assert run_wait(run.pk, timeout_s=60).outputs["text"] == "PUBLISHED: a draft"
