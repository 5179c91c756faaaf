"""Event loops: the web server's (remembered so worker threads can hand it work) and the workers' (one per process).

In quickstart mode the channel layer is in memory: a group message must be
sent on the loop the websocket consumers live on (the ASGI server's). The ASGI
application records that loop on its first call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

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


_worker_loops = threading.local()


def run_in_worker_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on this thread's persistent event loop and return its result.

    A Celery pool process executes one task at a time on its main thread;
    ``asyncio.run`` per task would start (and throw away) a loop per run, so
    every per-loop cache — the gateway's HTTP clients and their kept-alive
    connections, the channel layer's Redis connection — would be built again
    for each run and the old ones left to the garbage collector (measured:
    worker memory grew ~25 KB per run). Here one ``asyncio.Runner`` per thread
    (and per process: a forked child starts its own) is reused for every
    call. When ``coro`` raises — or a time limit interrupts the loop itself,
    which could leave tasks behind — the loop is closed (its tasks cancelled,
    as ``asyncio.run`` does) and the next call starts a new one. Must not be
    called from inside a running event loop (``RuntimeError``).
    """
    pid = os.getpid()
    runner: asyncio.Runner | None = getattr(_worker_loops, "runner", None)
    if runner is None or getattr(_worker_loops, "pid", None) != pid:
        runner = asyncio.Runner()
        _worker_loops.runner, _worker_loops.pid = runner, pid
    try:
        return runner.run(coro)
    except BaseException:
        _worker_loops.runner = None
        runner.close()
        raise
