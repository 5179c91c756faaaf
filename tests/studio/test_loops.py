"""The worker's event loop: one per process, reused by every task, replaced after an error."""

from __future__ import annotations

import asyncio

import pytest

from studio.lib.loops import run_in_worker_loop


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _fail() -> None:
    raise ValueError("boom")


def test_every_task_runs_on_the_same_loop_until_one_fails():
    first = run_in_worker_loop(_running_loop())
    second = run_in_worker_loop(_running_loop())
    assert first is second and not first.is_closed()  # clients and connections cached per loop survive

    with pytest.raises(ValueError, match="boom"):
        run_in_worker_loop(_fail())

    assert first.is_closed()  # its leftover tasks were cancelled, as asyncio.run does
    third = run_in_worker_loop(_running_loop())
    assert third is not first and not third.is_closed()
    with pytest.raises(ValueError):
        run_in_worker_loop(_fail())  # leave no open loop behind
