"""Runs end to end on the real services: PostgreSQL, Redis, a Celery worker, Channels, the local model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Run, RunEvent, RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from studio.models import EgressAllowedHost
from tests.conftest import demo_graph
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]

LLM_TYPES = {"llm", "agent"}


def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return [(b"cookie", cookie.encode()), (b"origin", b"http://127.0.0.1")]


async def _collect_events(run_id: int, headers: list[tuple[bytes, bytes]], timeout_s: float) -> list[dict[str, Any]]:
    from studio.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/?after=0&format=json", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                event = json.loads(await communicator.receive_from(timeout=timeout_s))
                if event.get("seq") is None:
                    continue  # token deltas are not stored events
                events.append(event)
                if event["type"] == "run.finished":
                    return events
    finally:
        await communicator.disconnect()


def test_research_brief_runs_on_a_worker_and_streams_every_event_in_order(
    project, alice, local_endpoint, seeded_prompt, local_model, celery_worker_proc
):
    workflow = Workflow.objects.create(project=project, slug="research-brief", name="Research brief",
                                       draft_graph=demo_graph("research-brief"))
    run = run_start(workflow=workflow, user=alice, inputs={"topic": "solar panels on city roofs"})

    events = async_to_sync(_collect_events)(run.pk, _session_headers(alice), 300)

    run = run_wait(run.pk, timeout_s=30)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert isinstance(run.outputs["brief"], str) and run.outputs["brief"].strip()
    stored = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "type"))
    assert [(e["seq"], e["type"]) for e in events] == stored
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1))
    steps = list(run.steps.all())
    assert {s.node_id for s in steps} == {"input", "facts", "risks", "questions", "writer", "output"}
    assert all(s.status == "succeeded" for s in steps)
    for step in steps:
        if step.node_type in LLM_TYPES:
            assert step.input_tokens > 0 and step.output_tokens > 0, step.node_id
            assert step.cost_usd == 0  # the local endpoint is priced at $0 explicitly
    assert run.input_tokens == sum(s.input_tokens for s in steps)
    writer_span = Span.objects.get(run_id=run.pk, node_id="writer")
    assert writer_span.prompt_version_id == seeded_prompt.labels.get(name="production").version_id


def test_three_agents_of_research_brief_overlap_in_time(project, alice, local_endpoint, seeded_prompt, local_model,
                                                        celery_worker_proc):
    workflow = Workflow.objects.create(project=project, slug="rb", name="RB", draft_graph=demo_graph("research-brief"))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=300)
    assert run.status == RunStatus.SUCCEEDED, run.error
    parallel = list(run.steps.filter(node_id__in=["facts", "risks", "questions"]))
    latest_start = max(s.started_at for s in parallel)
    earliest_end = min(s.finished_at for s in parallel)
    assert latest_start < earliest_end  # all three were running at the same moment


def test_run_fails_with_reason_when_the_model_server_is_down(project, alice, local_endpoint, celery_worker_proc):
    local_endpoint.api_base = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    EgressAllowedHost.objects.create(project=project, host="127.0.0.1:9", note="loopback needs an entry")
    local_endpoint.timeout_s = 5
    local_endpoint.save()
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA",
                                       draft_graph=demo_graph("question-answering"))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"question": "Why?"}).pk, timeout_s=120)
    assert run.status == RunStatus.FAILED
    assert run.failed_node == "answerer"
    assert "Answerer" in run.error or "answerer" in run.error
    assert Run.objects.filter(status=RunStatus.RUNNING).count() == 0


def test_duplicate_dispatch_of_a_finished_run_changes_nothing(project, alice, local_endpoint, local_model,
                                                               celery_worker_proc):
    from agents.runtime import run_execute

    workflow = Workflow.objects.create(project=project, slug="qa", name="QA",
                                       draft_graph=demo_graph("question-answering"))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"question": "What is 2+2?"}).pk, timeout_s=300)
    assert run.status == RunStatus.SUCCEEDED, run.error
    events_before = RunEvent.objects.filter(run=run).count()
    assert async_to_sync(run_execute)(run.pk) is None
    assert RunEvent.objects.filter(run=run).count() == events_before
