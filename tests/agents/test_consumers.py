"""RunConsumer over the real ASGI stack (origin check, session auth, channel layer):
access is checked on connect, stored events after the cursor are replayed in
order, live ones are forwarded, and no seq is ever sent twice."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Run, RunEvent, RunStatus, Workflow
from studio.asgi import application
from studio.models import Project
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@pytest.fixture
def run(project: Project) -> Run:
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    run = Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=RunStatus.RUNNING)
    for seq in range(1, 6):
        RunEvent.objects.create(run=run, seq=seq, type="run.started" if seq == 1 else "step.started",
                                payload={"node_id": "answerer", "label": "Answerer", "node_type": "agent", "n": seq})
    return run


def headers_for(user: Any | None, origin: str = "http://testserver") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def live(run: Run, seq: int | None, kind: str = "step.finished", **payload: Any) -> dict[str, Any]:
    return {"type": "run.event", "event": {"run_id": run.pk, "seq": seq, "type": kind, "payload": payload}}


def scenario(fn: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(fn)()


async def connect(run_id: int, user: Any | None, query: str = "format=json", **kwargs: Any) -> WebsocketCommunicator:
    headers = await database_sync_to_async(headers_for)(user, **kwargs)
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/?{query}", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def expect_close(communicator: WebsocketCommunicator, code: int) -> None:
    message = await communicator.receive_output(timeout=TIMEOUT)
    assert message == {"type": "websocket.close", "code": code}


async def seqs(communicator: WebsocketCommunicator, count: int) -> list[int | None]:
    return [(await communicator.receive_json_from(timeout=TIMEOUT))["seq"] for _ in range(count)]


@pytest.mark.parametrize("who", ["charlie", "anonymous"])
def test_stranger_and_anonymous_are_closed_with_4403(run: Run, charlie: Any, who: str) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, charlie if who == "charlie" else None)
        await expect_close(communicator, 4403)

    scenario(go)


def test_missing_run_is_closed_like_a_forbidden_one(run: Run, alice: Any) -> None:
    async def go() -> None:
        communicator = await connect(run.pk + 1000, alice)
        await expect_close(communicator, 4403)

    scenario(go)


def test_foreign_origin_is_refused(run: Run, alice: Any) -> None:
    async def go() -> None:
        headers = await database_sync_to_async(headers_for)(alice, origin="http://evil.example")
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert not connected

    scenario(go)


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "after=99999999999", "format=xml"])
def test_bad_query_is_closed_with_4400(run: Run, alice: Any, query: str) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, alice, query)
        await expect_close(communicator, 4400)

    scenario(go)


def test_replays_stored_events_after_the_cursor_in_order(run: Run, alice: Any, bob: Any) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, bob, "after=2&format=json")  # a viewer may watch
        messages = [await communicator.receive_json_from(timeout=TIMEOUT) for _ in range(3)]
        assert [m["seq"] for m in messages] == [3, 4, 5]
        assert messages[0] == {"run_id": run.pk, "seq": 3, "type": "step.started",
                               "payload": {"node_id": "answerer", "label": "Answerer", "node_type": "agent", "n": 3}}
        assert await communicator.receive_nothing()
        await communicator.disconnect()

    scenario(go)


def test_forwards_live_events_and_never_sends_a_seq_twice(run: Run, alice: Any) -> None:
    async def go() -> None:
        await database_sync_to_async(RunEvent.objects.create)(run=run, seq=6, type="step.finished", payload={})
        communicator = await connect(run.pk, alice, "after=4&format=json")
        assert await seqs(communicator, 2) == [5, 6]
        layer = get_channel_layer()
        group = f"run.{run.pk}"
        await layer.group_send(group, live(run, 6))  # replayed already: dropped
        await layer.group_send(group, live(run, 3))  # older: dropped
        await layer.group_send(group, live(run, 7))
        await layer.group_send(group, live(run, 7))  # duplicate delivery: dropped
        await layer.group_send(group, live(run, None, "step.token", node_id="answerer", text="Hel"))
        await layer.group_send(group, live(run, 8, "run.finished", status="succeeded"))
        assert await seqs(communicator, 3) == [7, None, 8]
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    scenario(go)


def test_a_gap_in_live_events_is_filled_from_the_database_in_order(run: Run, alice: Any) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, alice, "after=5&format=json")
        assert await communicator.receive_nothing()
        for seq in (6, 7):
            await database_sync_to_async(RunEvent.objects.create)(run=run, seq=seq, type="step.finished", payload={})
        await get_channel_layer().group_send(f"run.{run.pk}", live(run, 7))  # 6's broadcast was lost
        assert await seqs(communicator, 2) == [6, 7]
        await communicator.disconnect()

    scenario(go)


def test_html_format_sends_oob_fragments_with_the_cursor(run: Run, alice: Any) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, alice, "after=4")
        html = await communicator.receive_from(timeout=TIMEOUT)
        assert f'id="run-cursor-{run.pk}" class="run-cursor" data-seq="5"' in html
        assert 'id="step-card-answerer"' in html and 'hx-swap-oob="true"' in html
        assert 'id="node-status-answerer"' in html
        await get_channel_layer().group_send(
            f"run.{run.pk}", live(run, None, "step.token", node_id="answerer", iteration="", text="<b>hi</b>")
        )
        token = await communicator.receive_from(timeout=TIMEOUT)
        assert token == '<div hx-swap-oob="beforeend:#step-stream-answerer">&lt;b&gt;hi&lt;/b&gt;</div>'
        await communicator.disconnect()

    scenario(go)


def test_client_messages_are_ignored(run: Run, alice: Any) -> None:
    async def go() -> None:
        communicator = await connect(run.pk, alice, "after=5&format=json")
        await communicator.send_to(text_data="garbage {")
        await communicator.send_to(text_data=json.dumps({"type": "run.event", "event": {"seq": 99}}))
        await communicator.send_to(bytes_data=b"\x00\xff")
        assert await communicator.receive_nothing()
        await get_channel_layer().group_send(f"run.{run.pk}", live(run, 6))
        assert await seqs(communicator, 1) == [6]
        await communicator.disconnect()

    scenario(go)


def test_an_event_is_rendered_once_however_many_sockets_watch_the_run(run, django_assert_num_queries):
    """The run page's fragments are rendered once per (run, seq) in a process, not once per socket."""
    from agents.fragments import render_event_html_once

    event = RunEvent.objects.get(run=run, seq=2)
    first = render_event_html_once(run, event)
    assert 'id="run-cursor-' in first and 'data-seq="2"' in first
    with django_assert_num_queries(0):
        assert [render_event_html_once(run, event) for _ in range(3)] == [first] * 3
