"""Run events: written in the caller's transaction, broadcast after commit.

Every state change of a run appends a ``RunEvent`` with the next ``seq`` in
the same transaction as the change; on commit it is sent to the channel group
``run.<id>`` as ``{"type": "run.event", "event": {run_id, seq, type, payload}}``.
Ephemeral events (``step.token`` deltas) are broadcast with ``seq=None`` and
not stored: the final text arrives in ``step.finished``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
from decimal import Decimal
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connections, router, transaction
from django.db.models import F

from agents.models import Run, RunEvent, RunStatus
from studio.lib.loops import server_loop

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    """Channel group name of a run's live events."""
    return f"run.{run_id}"


def event_as_message(event: RunEvent) -> dict[str, Any]:
    return {"run_id": event.run_id, "seq": event.seq, "type": event.type, "payload": event.payload}


class Fenced(Exception):
    """The writer's attempt is no longer the run's current one (the run was claimed again, or it
    left ``running``): stop writing. Raised by :func:`event_seq_next` with ``attempt``."""


def event_append(*, run_id: int, type: str, payload: dict[str, Any]) -> RunEvent:
    """Append an event with the run's next seq; broadcast it after commit.

    Must run inside ``transaction.atomic()`` (it locks the run row to
    allocate the seq, so events of parallel steps get distinct, ordered seqs).
    Raises ``Run.DoesNotExist`` for an unknown run.
    """
    return event_record(run_id=run_id, seq=event_seq_next(run_id), type=type, payload=payload)


def event_record(*, run_id: int, seq: int, type: str, payload: dict[str, Any]) -> RunEvent:
    """Store an event whose ``seq`` the caller took from :func:`event_seq_next` in the same
    transaction; broadcast it after commit."""
    event = RunEvent.objects.create(run_id=run_id, seq=seq, type=type, payload=payload)
    message = event_as_message(event)
    transaction.on_commit(lambda: broadcast(run_id, message))
    return event


def event_seq_next(run_id: int, *, attempt: int | None = None,
                   usage: tuple[int, int, Decimal | None] | None = None) -> int:
    """Bump and return the run's ``event_seq`` — the one allocator of event sequence numbers.

    One ``UPDATE … RETURNING`` where the database has it (PostgreSQL, SQLite
    3.35+), else an UPDATE and a SELECT; it locks the run row until the
    transaction ends, so events of parallel steps get distinct seqs in commit
    order. ``attempt``: the fence — only while the run is ``running`` that
    attempt, else :class:`Fenced` is raised. ``usage``: a finished step's
    ``(input tokens, output tokens, cost in USD or None for an unknown
    price)``, added to the run's totals in the same statement (an unknown
    price sets ``cost_unknown``). Raises ``Run.DoesNotExist`` for an unknown
    run (without ``attempt``).
    """
    increments: dict[str, Any] = {}
    unknown_cost = False
    if usage is not None:
        input_tokens, output_tokens, cost_usd = usage
        increments = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                      "cost_usd": cost_usd if cost_usd is not None else Decimal("0")}
        unknown_cost = cost_usd is None
    conditions: dict[str, Any] = {}
    if attempt is not None:
        conditions = {"attempt": attempt, "status": RunStatus.RUNNING}
    connection = connections[router.db_for_write(Run)]
    if _returning_supported(connection):
        quote = connection.ops.quote_name

        def column(name: str) -> str:
            return quote(Run._meta.get_field(name).column)

        seq = column("event_seq")
        assignments = [f"{seq} = {seq} + 1"]
        params: list[Any] = []
        for name, amount in increments.items():
            assignments.append(f"{column(name)} = {column(name)} + %s")
            params.append(amount)
        if unknown_cost:
            assignments.append(f"{column('cost_unknown')} = %s")
            params.append(True)
        where = [f"{quote(Run._meta.pk.column)} = %s"]
        params.append(run_id)
        for name, value in conditions.items():
            where.append(f"{column(name)} = %s")
            params.append(value)
        # Quoted model column names only; every value is a parameter.
        sql = (f"UPDATE {quote(Run._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
               f"WHERE {' AND '.join(where)} RETURNING {seq}")
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        found = None if row is None else int(row[0])
    else:
        changes: dict[str, Any] = {name: F(name) + amount for name, amount in increments.items()}
        if unknown_cost:
            changes["cost_unknown"] = True
        updated = Run.objects.filter(pk=run_id, **conditions).update(event_seq=F("event_seq") + 1, **changes)
        found = int(Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).get()) if updated else None
    if found is None:
        if attempt is not None:
            raise Fenced(f"run {run_id} attempt {attempt} was superseded")
        raise Run.DoesNotExist(f"Run {run_id} does not exist.")
    return found


def _returning_supported(connection: Any) -> bool:
    """Whether ``UPDATE … RETURNING`` works on ``connection`` (PostgreSQL; SQLite 3.35+)."""
    return connection.vendor in ("postgresql", "sqlite") and bool(connection.features.can_return_columns_from_insert)


def broadcast(run_id: int, message: dict[str, Any]) -> None:
    """Hand one event to the run's group and return at once. Never raises: clients replay what they miss.

    The send happens on an event loop of its own (the ASGI server's in
    quickstart, this process's sender loop otherwise), in call order; the
    caller — typically a database thread running ``on_commit`` callbacks —
    does not wait for Redis. A failed send is logged.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    envelope = {"type": "run.event", "event": message}
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = server_loop()
            if loop is None:
                return  # no websocket can listen in this process
        else:
            # A persistent loop in a thread of its own: ``async_to_sync`` costs a fresh loop (or a hop to
            # the caller's busy loop) and, with a fresh loop, a fresh Redis connection per event.
            loop = _sender_loop()
        future = asyncio.run_coroutine_threadsafe(layer.group_send(run_group(run_id), envelope), loop)
    except Exception:
        log.warning("could not broadcast event %s of run %s", message.get("seq"), run_id, exc_info=True)
        return
    future.add_done_callback(functools.partial(_log_send_failure, run_id, message.get("seq")))


def _log_send_failure(run_id: int, seq: Any, future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("could not broadcast event %s of run %s", seq, run_id, exc_info=future.exception())


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


async def alistening(run_id: int) -> bool:
    """Whether anything in any process listens to the run's group right now (a websocket, an SSE stream).

    The runtime streams model tokens only then. Redis pub/sub layer: ``PUBSUB
    NUMSUB`` of the group's channel (each process with a subscriber counts
    once); in-memory layer: the group's members. On any doubt (another
    layer, an error) True: streaming when nobody listens only costs CPU.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    group = run_group(run_id)
    try:
        if isinstance(layer, InMemoryChannelLayer):
            return bool(layer.groups.get(group))
        if isinstance(layer, RedisPubSubChannelLayer):
            # channels_redis 4.3 keeps the group's channel name and its connection private; pinned by version.
            loop_layer = layer._get_layer()
            channel = loop_layer._get_group_channel_name(group)
            shard = loop_layer._get_shard(channel)
            shard._ensure_redis()
            counts = await shard._redis.pubsub_numsub(channel)
            return any(int(count) > 0 for _, count in counts)
    except Exception:
        log.warning("could not tell whether run %s has listeners; assuming it has", run_id, exc_info=True)
    return True


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
