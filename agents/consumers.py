"""Websocket consumers: pipes from a run's channel group to a browser or API client.

``/ws/runs/<run_id>/?after=<seq>&format=html|json``

1. check access (``access_run``, perm ``view``) — anonymous, denied and missing
   runs are all closed with code 4403, so a run's existence never leaks;
2. join the group ``run.<id>``, THEN replay stored events with ``seq > after``
   (joining first means nothing committed in between is missed);
3. forward live events. A stored event is sent once and in seq order: one
   already sent is dropped, and a gap (an event whose broadcast was lost or
   overtaken) is filled from the database first. Ephemeral events
   (``step.token``, ``seq`` None) are forwarded as they come;
4. re-check access when the user's membership changes and every
   ``STUDIO_WS_RECHECK_S`` seconds (``studio.access_watch``): a member removed
   while connected gets nothing more and the socket closes with 4403.

``format=html`` (default) sends the ``hx-swap-oob`` fragments of
``agents.fragments.render_event_html_once`` for the htmx ws extension — rendered
once per event in the process, whatever the number of sockets;
``format=json`` sends ``{"run_id", "seq", "type", "payload"}``.
Client messages are ignored.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from agents.fragments import event_dict, render_event_html_once
from agents.models import Run
from agents.selectors import access_run, run_events_after
from studio.access_watch import AccessWatchMixin

CLOSE_DENIED = 4403
CLOSE_BAD_REQUEST = 4400
MAX_AFTER = 2**31 - 1


def _access(user: Any, run_id: int) -> Run | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        return access_run(user=user, pk=run_id, perm="view")
    except (Http404, PermissionDenied):
        return None


def _stored_events(run: Run, after: int, upto: int | None = None) -> list[dict[str, Any]]:
    events = [event_dict(e) for e in run_events_after(run=run, after=after)]
    return [e for e in events if upto is None or e["seq"] <= upto]


def _query(scope: dict[str, Any]) -> tuple[int | None, str | None]:
    """``(after, format)``; ``None`` for an invalid value."""
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    raw_after = (params.get("after") or ["0"])[-1]
    after = int(raw_after) if raw_after.isdigit() and int(raw_after) <= MAX_AFTER else None
    fmt = (params.get("format") or ["html"])[-1]
    return after, fmt if fmt in ("html", "json") else None


class RunConsumer(AccessWatchMixin, AsyncWebsocketConsumer):
    """Live events of one run (see the module docstring for the protocol)."""

    run: Run | None = None
    group: str | None = None
    last_seq: int = 0
    format: str = "html"

    async def connect(self) -> None:
        after, fmt = _query(self.scope)
        run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.run = await database_sync_to_async(_access)(self.scope.get("user"), run_id)
        # Accept before closing so the browser sees the code (a refused handshake
        # is a 1006, which the htmx ws extension would retry forever).
        await self.accept()
        if self.run is None:
            await self.close(code=CLOSE_DENIED)
            return
        if after is None or fmt is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.format, self.last_seq = fmt, after
        self.group = f"run.{self.run.pk}"
        await self.access_watch_start(self.scope["user"].pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Live messages queue up while this handler runs; run_event drops the replayed ones.
        for event in await database_sync_to_async(_stored_events)(self.run, after):
            await self._send_event(event)

    async def disconnect(self, code: int) -> None:
        await self.access_watch_stop()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    def access_still_allowed(self) -> bool:
        """Re-check ``view`` on the run with the user reloaded (roles are cached on the scope's user)."""
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(pk=self.scope["user"].pk).first()
        return self.run is not None and _access(user, self.run.pk) is not None

    async def access_lost(self) -> None:
        """Leave the run's group first, so no event is forwarded after access was lost."""
        await self.disconnect(CLOSE_DENIED)
        await self.close(code=CLOSE_DENIED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients have nothing to say; anything they send is ignored."""

    async def run_event(self, message: dict[str, Any]) -> None:
        """A live event from the group: ``{"type": "run.event", "event": {...}}``."""
        if self.run is None or self.access_revoked or not isinstance(message.get("event"), dict):
            return
        event = event_dict(message["event"])
        seq = event["seq"]
        if seq is None:
            await self._send_event(event)
            return
        if not isinstance(seq, int) or seq <= self.last_seq:
            return  # already sent (replayed, or delivered twice)
        if seq > self.last_seq + 1:  # missed broadcasts: send them from the database first, in order
            for missed in await database_sync_to_async(_stored_events)(self.run, self.last_seq, seq - 1):
                await self._send_event(missed)
        await self._send_event(event)

    async def _send_event(self, event: dict[str, Any]) -> None:
        seq = event["seq"]
        if seq is not None:
            if seq <= self.last_seq:
                return
            self.last_seq = seq
        if self.format == "json":
            await self.send(text_data=json.dumps({**event, "run_id": self.run.pk}, default=str))
            return
        html = await database_sync_to_async(render_event_html_once)(self.run, event)
        if html:
            await self.send(text_data=html)
