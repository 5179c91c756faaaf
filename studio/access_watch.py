"""Access re-checks for long-lived connections (websockets).

A consumer checks access when the socket connects, but a member can be
removed — or lose a guardian grant, or be deactivated — while it is open.
:class:`AccessWatchMixin` re-checks:

* at once when the user's access may have changed: every save or delete of a
  ``Membership`` sends ``{"type": "access.changed", "project_id"}`` to the
  group ``access.user.<user_id>`` after its transaction commits
  (``studio.signals``);
* every ``settings.STUDIO_WS_RECHECK_S`` seconds (default 30), which also
  catches what sends no message (guardian grants, ``is_active``, a deleted
  user).

When the re-check fails the consumer leaves its groups (no further event is
forwarded) and closes the socket with code 4403.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from studio.lib.loops import group_send_sync

log = logging.getLogger(__name__)

CLOSE_ACCESS_LOST = 4403


def access_group(user_id: int) -> str:
    """The channel group of one user's access changes."""
    return f"access.user.{int(user_id)}"


def access_changed_broadcast(*, user_id: int, project_id: int | None = None) -> None:
    """Tell the user's open sockets to re-check access (sync; call after commit). Never raises."""
    group_send_sync(access_group(user_id), {"type": "access.changed", "project_id": project_id})


class AccessWatchMixin:
    """For ``AsyncWebsocketConsumer`` subclasses: re-check access on change and periodically.

    The consumer calls :meth:`access_watch_start` once access was granted in
    ``connect()``, :meth:`access_watch_stop` in ``disconnect()``, and
    implements :meth:`access_still_allowed` (sync, runs in a thread) and
    optionally :meth:`access_lost` (default: close with 4403).
    """

    channel_layer: Any
    channel_name: str
    _access_user_group: str | None = None
    _access_timer: asyncio.Task[None] | None = None
    _access_lock: asyncio.Lock | None = None
    access_revoked: bool = False

    async def access_watch_start(self, user_id: int) -> None:
        """Join the user's access group and start the periodic re-check."""
        self._access_lock = asyncio.Lock()
        self._access_user_group = access_group(user_id)
        await self.channel_layer.group_add(self._access_user_group, self.channel_name)
        interval = float(getattr(settings, "STUDIO_WS_RECHECK_S", 30))
        if interval > 0:
            self._access_timer = asyncio.create_task(self._access_periodic(interval))

    async def access_watch_stop(self) -> None:
        """Leave the access group and stop the timer (idempotent)."""
        timer, self._access_timer = self._access_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await timer
        group, self._access_user_group = self._access_user_group, None
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def access_changed(self, message: dict[str, Any]) -> None:
        """Group message ``access.changed``: re-check now."""
        await self._access_recheck()

    def access_still_allowed(self) -> bool:
        """Whether the socket's user may still see what it watches (sync; reload the user from the database)."""
        raise NotImplementedError

    async def access_lost(self) -> None:
        """Called once when a re-check fails: stop watching and close with 4403."""
        await self.access_watch_stop()
        await self.close(code=CLOSE_ACCESS_LOST)  # type: ignore[attr-defined]

    async def _access_periodic(self, interval: float) -> None:
        while not self.access_revoked:
            await asyncio.sleep(interval)
            await self._access_recheck()

    async def _access_recheck(self) -> None:
        if self.access_revoked or self._access_lock is None:
            return
        async with self._access_lock:
            if self.access_revoked:
                return
            try:
                allowed = await database_sync_to_async(self.access_still_allowed)()
            except Exception:
                log.warning("access re-check failed; closing the socket", exc_info=True)
                allowed = False
            if not allowed:
                self.access_revoked = True
                await self.access_lost()
