"""Open websockets lose access with the membership (issue 7, item 14).

Over the real ASGI stack and the Redis channel layer: a member removed while
connected is closed with 4403 and gets no further event; a role change that
still allows viewing keeps the socket; a lost guardian grant (no broadcast) is
caught by the periodic re-check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from guardian.shortcuts import assign_perm, remove_perm

from agents.models import Run, RunEvent, RunStatus, Workflow
from studio.asgi import application
from studio.models import Membership, Project, Role
from studio.services import membership_set
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@pytest.fixture
def run(project: Project) -> Run:
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    run = Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=RunStatus.RUNNING)
    RunEvent.objects.create(run=run, seq=1, type="run.started", payload={})
    return run


def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]


async def _watch(run: Run, user: Any) -> WebsocketCommunicator:
    """Connect as ``user`` and read the replayed ``run.started``."""
    headers = await database_sync_to_async(_session_headers)(user)
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?format=json", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["seq"] == 1
    return communicator


async def _broadcast(run: Run, seq: int) -> None:
    await get_channel_layer().group_send(
        f"run.{run.pk}",
        {"type": "run.event", "event": {"run_id": run.pk, "seq": seq, "type": "step.started", "payload": {}}},
    )


def scenario(fn: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(fn)()


def test_a_member_removed_while_connected_is_closed_with_4403(run, bob):
    async def go() -> None:
        communicator = await _watch(run, bob)
        await _broadcast(run, 2)
        assert (await communicator.receive_json_from(timeout=TIMEOUT))["seq"] == 2

        await database_sync_to_async(Membership.objects.filter(user=bob).delete)()

        assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
        await _broadcast(run, 3)
        assert await communicator.receive_nothing(timeout=0.5)

    scenario(go)


def test_a_role_change_that_still_allows_viewing_keeps_the_socket(run, bob, alice):
    async def go() -> None:
        communicator = await _watch(run, bob)

        await database_sync_to_async(membership_set)(project=run.project, user=bob, role=Role.EDITOR, actor=alice)
        await _broadcast(run, 2)

        assert (await communicator.receive_json_from(timeout=TIMEOUT))["seq"] == 2
        await communicator.disconnect()

    scenario(go)


def test_a_lost_object_grant_is_caught_by_the_periodic_recheck(run, charlie, settings):
    settings.STUDIO_WS_RECHECK_S = 0.2
    assign_perm("agents.view_workflow", charlie, run.workflow)

    async def go() -> None:
        communicator = await _watch(run, charlie)

        await database_sync_to_async(remove_perm)("agents.view_workflow", charlie, run.workflow)

        assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}

    scenario(go)


def test_a_deactivated_user_is_closed_by_the_periodic_recheck(run, bob, settings):
    settings.STUDIO_WS_RECHECK_S = 0.2

    async def go() -> None:
        communicator = await _watch(run, bob)
        bob.is_active = False
        await database_sync_to_async(bob.save)(update_fields=["is_active"])

        assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}

    scenario(go)


def test_logging_out_closes_the_sockets_of_that_session_only(run, bob):
    def two_sessions() -> tuple[Client, list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        leaving, staying = Client(), Client()
        leaving.force_login(bob)
        staying.force_login(bob)
        base = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
        return (
            leaving,
            [*base, (b"cookie", f"sessionid={leaving.cookies['sessionid'].value}".encode())],
            [*base, (b"cookie", f"sessionid={staying.cookies['sessionid'].value}".encode())],
        )

    async def go() -> None:
        leaving, leaving_headers, staying_headers = await database_sync_to_async(two_sessions)()
        sockets = []
        for headers in (leaving_headers, staying_headers):
            socket = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?format=json", headers=headers)
            assert (await socket.connect(timeout=TIMEOUT))[0]
            assert (await socket.receive_json_from(timeout=TIMEOUT))["seq"] == 1
            sockets.append(socket)

        await database_sync_to_async(leaving.logout)()

        assert await sockets[0].receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
        await _broadcast(run, 2)
        assert (await sockets[1].receive_json_from(timeout=TIMEOUT))["seq"] == 2
        await sockets[1].disconnect()

    scenario(go)
