"""Run events: written in the caller's transaction, broadcast after commit.

Every state change of a run appends a ``RunEvent`` with the next ``seq`` in
the same transaction as the change; on commit it is sent to the channel group
``run.<id>`` as ``{"type": "run.event", "event": {run_id, seq, type, payload}}``.
Ephemeral events (``step.token`` deltas) are broadcast with ``seq=None`` and
not stored: the final text arrives in ``step.finished``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import F

from agents.models import Run, RunEvent
from studio.lib.loops import server_loop

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    """Channel group name of a run's live events."""
    return f"run.{run_id}"


def event_as_message(event: RunEvent) -> dict[str, Any]:
    return {"run_id": event.run_id, "seq": event.seq, "type": event.type, "payload": event.payload}


def event_append(*, run_id: int, type: str, payload: dict[str, Any]) -> RunEvent:
    """Append an event with the run's next seq; broadcast it after commit.

    Must run inside ``transaction.atomic()`` (it locks the run row to
    allocate the seq, so events of parallel steps get distinct, ordered seqs).
    """
    Run.objects.filter(pk=run_id).update(event_seq=F("event_seq") + 1)
    seq = Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).get()
    event = RunEvent.objects.create(run_id=run_id, seq=seq, type=type, payload=payload)
    message = event_as_message(event)
    transaction.on_commit(lambda: broadcast(run_id, message))
    return event


def broadcast(run_id: int, message: dict[str, Any]) -> None:
    """Send one event to the run's group. Never raises: clients replay what they miss."""
    layer = get_channel_layer()
    if layer is None:
        return
    envelope = {"type": "run.event", "event": message}
    try:
        loop = server_loop()
        if isinstance(layer, InMemoryChannelLayer):
            if loop is None:
                return  # no websocket can listen in this process
            future = asyncio.run_coroutine_threadsafe(layer.group_send(run_group(run_id), envelope), loop)
            if _on_loop(loop):
                return
            future.result(timeout=5)
            return
        async_to_sync(layer.group_send)(run_group(run_id), envelope)
    except Exception:
        log.warning("could not broadcast event %s of run %s", message.get("seq"), run_id, exc_info=True)


async def abroadcast(run_id: int, message: dict[str, Any]) -> None:
    """Async variant for ephemeral events sent from the engine's loop."""
    layer = get_channel_layer()
    if layer is None:
        return
    envelope = {"type": "run.event", "event": message}
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = server_loop()
            if loop is None:
                return
            if _on_loop(loop):
                await layer.group_send(run_group(run_id), envelope)
            else:
                await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(layer.group_send(run_group(run_id), envelope), loop)
                )
            return
        await layer.group_send(run_group(run_id), envelope)
    except Exception:
        log.warning("could not broadcast %s of run %s", message.get("type"), run_id, exc_info=True)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
