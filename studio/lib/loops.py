"""The web server's event loop, remembered so worker threads can hand it work.

In quickstart mode the channel layer is in memory: a group message must be
sent on the loop the websocket consumers live on (the ASGI server's). The ASGI
application records that loop on its first call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop() -> None:
    """Record the running loop as the server's (call from the ASGI app)."""
    global _server_loop
    if _server_loop is None:
        _server_loop = asyncio.get_running_loop()


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's loop if this process serves HTTP and it is still running."""
    if _server_loop is not None and _server_loop.is_running() and not _server_loop.is_closed():
        return _server_loop
    return None


_sender_lock = threading.Lock()
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for sending group messages from sync code (a daemon thread, one per pid)."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="group-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def group_send_sync(group: str, message: dict[str, Any], *, timeout_s: float = 5.0) -> bool:
    """Send ``message`` to a channel group from sync code; True when it was handed to the layer.

    With the in-memory layer (quickstart) the message is sent on the ASGI
    server's loop (nothing to do when this process serves no websocket); with
    Redis on a persistent sender loop. Never raises: failures are logged.
    """
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = server_loop()
            if loop is None:
                return False
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            if not _running_on(loop):
                future.result(timeout=timeout_s)
            return True
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop()).result(timeout=timeout_s)
        return True
    except Exception:
        log.warning("could not send %s to group %s", message.get("type"), group, exc_info=True)
        return False


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
