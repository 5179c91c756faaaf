"""Helpers shared by the traces tests."""

from __future__ import annotations

import socket
from typing import Any

from asgiref.sync import async_to_sync

QUESTION = [{"role": "user", "content": "Answer in one word: what is the capital of France?"}]
SHORT = {"temperature": 0, "max_tokens": 16}


def call(coro_fn: Any, /, **kwargs: Any) -> Any:
    """Run an async gateway function from a sync test, as the runtime does (``async_to_sync``)."""
    return async_to_sync(coro_fn)(**kwargs)


def unused_port() -> int:
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
