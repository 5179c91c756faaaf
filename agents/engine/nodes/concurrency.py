"""Running a node's children concurrently with clean failure semantics."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from agents.engine.nodes.base import NodeError

T = TypeVar("T")


async def run_all(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await every coroutine concurrently and return their results in order.
    The first failure cancels the others and is raised as itself (not as
    an ``ExceptionGroup``); a run stop (budget, cancel) wins over a
    :class:`NodeError`."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failure:
        errors = sorted(failure.exceptions, key=lambda e: isinstance(e, NodeError))
        raise errors[0] from None
    return [task.result() for task in tasks]
