"""The web server's event loop, remembered so worker threads can hand it work.

In quickstart mode the channel layer is in memory: a group message must be
sent on the loop the websocket consumers live on (the ASGI server's). The ASGI
application records that loop on its first call.
"""

from __future__ import annotations

import asyncio

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
