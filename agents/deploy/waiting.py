"""Waiting for a run without a thread: the invoke API's synchronous mode.

:func:`run_wait_settled` runs on the server's event loop. It joins the run's
channel group (``run.<id>``) first, then reads the run's status; after that it
reads the status again only when a stored event of the run is broadcast (a
step or the run finished) — and every ``poll_s`` seconds of silence, as a
safety net for a lost broadcast. Token deltas (``seq`` None) wake nothing.
Database reads use the loop's shared executor (``thread_sensitive=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from agents.events import run_group
from agents.models import Run, RunStatus

#: A run in one of these states is worth answering about: finished, or waiting for a person.
SETTLED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.WAITING})


def _read(run_id: int) -> Run | None:
    return Run.objects.filter(pk=run_id).first()


async def run_wait_settled(run_id: int, timeout_s: float, *, poll_s: float = 2.0) -> Run | None:
    """The run once it is settled (finished or waiting for an approval), or its state after ``timeout_s``
    seconds; None for an unknown run. Never raises on a channel-layer failure (falls back to polling)."""
    read = sync_to_async(_read, thread_sensitive=False)
    layer = get_channel_layer()
    live: asyncio.Queue[Any] = asyncio.Queue()
    channel: str | None = None
    receiver: asyncio.Task[None] | None = None
    if layer is not None:
        try:
            channel = await layer.new_channel()
            await layer.group_add(run_group(run_id), channel)
        except Exception:  # noqa: BLE001 -- no channel layer reachable: poll the database instead
            channel = None
    if layer is not None and channel is not None:

        async def receive() -> None:
            assert channel is not None
            while True:
                live.put_nowait(await layer.receive(channel))

        receiver = asyncio.create_task(receive())
    try:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            run = await read(run_id)
            if run is None or run.status in SETTLED:
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return run
            wait_until = time.monotonic() + min(poll_s, remaining)
            while (left := wait_until - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(live.get(), left)
                except TimeoutError:
                    break
                event = message.get("event") if isinstance(message, dict) else None
                if isinstance(event, dict) and event.get("seq") is not None:
                    break  # a stored event: the status may have changed
    finally:
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver
        if layer is not None and channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(layer.group_discard(run_group(run_id), channel))
