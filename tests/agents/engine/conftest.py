"""Fixtures of the engine's unit tests (no Django: run with ``-p no:django``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine to completion on a fresh event loop."""

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coro)

    return run
