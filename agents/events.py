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
import os
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connections, router, transaction
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
    Raises ``Run.DoesNotExist`` for an unknown run.
    """
    return event_record(run_id=run_id, seq=_next_seq(run_id), type=type, payload=payload)


def event_record(*, run_id: int, seq: int, type: str, payload: dict[str, Any]) -> RunEvent:
    """Store an event whose ``seq`` the caller allocated; broadcast it after commit.

    For writers that allocate the seq in a statement of their own (the
    runtime's step store fences and allocates in one ``UPDATE``): the run row
    must be locked by that statement in the same transaction.
    """
    event = RunEvent.objects.create(run_id=run_id, seq=seq, type=type, payload=payload)
    message = event_as_message(event)
    transaction.on_commit(lambda: broadcast(run_id, message))
    return event


def _next_seq(run_id: int) -> int:
    """Bump and return the run's ``event_seq`` (locks the run row until the transaction ends).

    One ``UPDATE … RETURNING`` where the database has it (PostgreSQL, SQLite
    3.35+), else an UPDATE and a SELECT.
    """
    connection = connections[router.db_for_write(Run)]
    if _returning_supported(connection):
        quote = connection.ops.quote_name
        table, seq = quote(Run._meta.db_table), quote(Run._meta.get_field("event_seq").column)
        pk = quote(Run._meta.pk.column)
        with connection.cursor() as cursor:
            sql = f"UPDATE {table} SET {seq} = {seq} + 1 WHERE {pk} = %s RETURNING {seq}"  # noqa: S608 - quoted names
            cursor.execute(sql, [run_id])
            row = cursor.fetchone()
        if row is None:
            raise Run.DoesNotExist(f"Run {run_id} does not exist.")
        return int(row[0])
    Run.objects.filter(pk=run_id).update(event_seq=F("event_seq") + 1)
    return int(Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).get())


def _returning_supported(connection: Any) -> bool:
    """Whether ``UPDATE … RETURNING`` works on ``connection`` (PostgreSQL; SQLite 3.35+)."""
    return connection.vendor in ("postgresql", "sqlite") and bool(connection.features.can_return_columns_from_insert)


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
        # A persistent loop in a thread of its own: ``async_to_sync`` costs a fresh loop (or a hop to
        # the caller's busy loop) and, with a fresh loop, a fresh Redis connection per event.
        asyncio.run_coroutine_threadsafe(layer.group_send(run_group(run_id), envelope), _sender_loop()).result(
            timeout=5
        )
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


_sender_lock = threading.Lock()
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for sending group messages from sync code, started on first use.

    It runs forever in a daemon thread and keeps the channel layer's Redis
    connection open. Keyed by pid: a forked child (a Celery pool process)
    starts its own instead of using the parent's, whose thread it lacks.
    """
    global _sender
    current = _sender
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="run-event-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
