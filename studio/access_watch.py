"""Access re-checks for long-lived connections (websockets).

A consumer checks access when the socket connects, but a member can be
removed — or lose a guardian grant, or be deactivated — while it is open.
:class:`AccessWatchMixin` re-checks:

* at once when the user's access may have changed: every save or delete of a
  ``Membership`` sends ``{"type": "access.changed", "project_id"}`` to the
  group ``access.user.<user_id>`` after its transaction commits
  (``studio.signals``);
* at once when the socket's session is logged out (``user_logged_out``
  sends ``ended_session``, the SHA-256 of the session key, to the same group);
* every ``settings.STUDIO_WS_RECHECK_S`` seconds (default 30), which also
  catches what sends no message (guardian grants, ``is_active``, a deleted
  user, an expired session).

A re-check passes when the socket's session still holds its user and the
consumer's :meth:`AccessWatchMixin.access_still_allowed` says yes.

When the re-check fails the consumer leaves its groups (no further event is
forwarded) and closes the socket with code 4403.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY

from studio.lib.loops import group_send_sync

log = logging.getLogger(__name__)

CLOSE_ACCESS_LOST = 4403


def access_group(user_id: int) -> str:
    """The channel group of one user's access changes."""
    return f"access.user.{int(user_id)}"


def session_fingerprint(session_key: str) -> str:
    """What identifies a session in group messages (never the key itself)."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def access_changed_broadcast(*, user_id: int, project_id: int | None = None, ended_session: str | None = None) -> None:
    """Tell the user's open sockets to re-check access (sync; call after commit). Never raises.

    ``ended_session``: the :func:`session_fingerprint` of a session that was
    logged out — sockets opened with it close at once.
    """
    message = {"type": "access.changed", "project_id": project_id, "ended_session": ended_session}
    group_send_sync(access_group(user_id), message)


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
        """Group message ``access.changed``: re-check now (or close, when it is this socket's session that ended)."""
        ended = message.get("ended_session")
        if ended and ended == self._session_fingerprint():
            await self._access_recheck(force_lost=True)
            return
        await self._access_recheck()

    def session_still_valid(self) -> bool:
        """Whether the socket's session still exists, is not expired and holds the same user (sync)."""
        session = self.scope.get("session")  # type: ignore[attr-defined]
        user = self.scope.get("user")  # type: ignore[attr-defined]
        key = getattr(session, "session_key", None)
        if session is None or key is None or user is None:
            return session is None  # no session middleware: nothing to re-check here
        fresh = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        return str(fresh.get(SESSION_KEY)) == str(user.pk)  # empty when deleted (logout) or expired

    def _session_fingerprint(self) -> str | None:
        key = getattr(self.scope.get("session"), "session_key", None)  # type: ignore[attr-defined]
        return session_fingerprint(key) if key else None

    def _access_check(self) -> bool:
        return self.session_still_valid() and self.access_still_allowed()

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

    async def _access_recheck(self, *, force_lost: bool = False) -> None:
        if self.access_revoked or self._access_lock is None:
            return
        async with self._access_lock:
            if self.access_revoked:
                return
            try:
                allowed = not force_lost and await database_sync_to_async(self._access_check)()
            except Exception:
                log.warning("access re-check failed; closing the socket", exc_info=True)
                allowed = False
            if not allowed:
                self.access_revoked = True
                await self.access_lost()
