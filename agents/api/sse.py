"""A run's events as Server-Sent Events, streamed by the server's event loop.

``run_event_stream(run, after)`` is an async generator served by daphne (or
any ASGI server) without holding a thread per client:

1. it joins the run's channel group ``run.<id>`` first, then replays the
   stored events with ``seq > after`` (so nothing committed in between is
   missed), each as ``id: <seq>`` / ``event: <type>`` / ``data: <json>``;
2. then, for every live event of the group, it reads the stored events after
   its cursor (one query: gaps are filled, duplicates dropped, order is the
   seq order) — and, as a safety net for a lost broadcast, it also looks at
   the database every ``poll_s`` seconds of silence;
3. it sends a comment line (``: keep-alive``) after ``heartbeat_s`` seconds
   without an event, so proxies and clients keep a waiting run's stream open;
4. it ends after ``run.finished`` (or when the run is terminal and every
   stored event was sent, or after ``max_s``). When the client goes away the
   ASGI handler cancels the response and the ``finally`` leaves the group.

Database reads run in the loop's shared executor (``thread_sensitive=False``),
not in a thread reserved for the request. :class:`EventStreamRenderer` lets
DRF's content negotiation accept ``Accept: text/event-stream`` — what a
browser's ``EventSource`` sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from rest_framework.renderers import BaseRenderer

from agents.events import run_group
from agents.models import TERMINAL_RUN_STATUSES, Run, RunEvent


class EventStreamRenderer(BaseRenderer):
    """``text/event-stream`` for content negotiation; renders an error body as one ``event: error``."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: dict[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        return f"event: error\ndata: {json.dumps(data, default=str)}\n\n".encode()


def sse_block(event: RunEvent) -> str:
    """One stored event as an SSE block (``id`` is its seq, ``event`` its type, ``data`` JSON
    ``{"run_id", "seq", "type", "payload"}``)."""
    data = json.dumps(
        {"run_id": event.run_id, "seq": event.seq, "type": event.type, "payload": event.payload}, default=str
    )
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


def _events_after(run_id: int, after: int) -> tuple[list[RunEvent], bool]:
    """Stored events with ``seq > after`` in order, and whether the run is terminal (read after them)."""
    events = list(RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:10_000])
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return events, status is None or status in TERMINAL_RUN_STATUSES


async def run_event_stream(
    run_id: int, after: int, *, heartbeat_s: float | None = None, poll_s: float = 2.0, max_s: float = 3600.0,
    tokens: bool = False,
) -> AsyncIterator[str]:
    """SSE text for run ``run_id`` after seq ``after`` (see the module docstring). ``heartbeat_s``
    defaults to ``settings.STUDIO_SSE_HEARTBEAT_S``; all times are seconds. ``tokens``: also pass
    the live token deltas on (``event: step.token``, no ``id``: they are not stored, so not replayed)."""
    heartbeat_s = settings.STUDIO_SSE_HEARTBEAT_S if heartbeat_s is None else heartbeat_s
    read = sync_to_async(_events_after, thread_sensitive=False)
    layer = get_channel_layer()
    live: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    channel: str | None = None
    receiver: asyncio.Task[None] | None = None
    if layer is not None:
        channel = await layer.new_channel()
        await layer.group_add(run_group(run_id), channel)

        async def receive() -> None:
            while True:
                live.put_nowait(await layer.receive(channel))

        receiver = asyncio.create_task(receive())
    try:
        deadline = time.monotonic() + max_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            events, terminal = await read(run_id, after)
            for event in events:
                after = event.seq
                yield sse_block(event)
                if event.type == "run.finished":
                    return
            if events:
                quiet_since = time.monotonic()
            elif terminal:
                return
            # Wait for the next stored event's broadcast (tokens, seq None, are not part of this stream).
            while True:
                timeout = max(0.05, min(poll_s, quiet_since + heartbeat_s - time.monotonic()))
                try:
                    message = await asyncio.wait_for(live.get(), timeout)
                except TimeoutError:
                    break
                event = message.get("event") if isinstance(message, dict) else None
                if isinstance(event, dict) and isinstance(event.get("seq"), int) and event["seq"] > after:
                    break
                token = isinstance(event, dict) and event.get("seq") is None and event.get("type") == "step.token"
                if tokens and token:
                    yield f"event: step.token\ndata: {json.dumps(event, default=str)}\n\n"
            if time.monotonic() - quiet_since >= heartbeat_s:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
    finally:
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver
        if layer is not None and channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(layer.group_discard(run_group(run_id), channel))
