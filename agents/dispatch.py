"""Handing a run to an executor — the bottom of the run path.

``run_dispatch(run_id)`` says "advance run X" and nothing else; PostgreSQL
holds the run's state and execution starts with an atomic claim, so a
duplicate dispatch is harmless. This module imports nothing of the run path
(runtime, services, effects, tasks): they all import it.

* **Queue mode** (``settings.QUEUE_MODE``): a Celery message to the task
  ``agents.tasks.execute_run`` on ``settings.STUDIO_RUNS_QUEUE``, sent by name.
* **Quickstart** (in-process executor): the run is executed by
  :class:`LocalExecutor` — one thread of this process with an event loop of
  its own, never the web server's loop, so a slow node cannot stall HTTP or
  websockets. The executor is given its two functions (execute a run, sweep
  stuck runs) by ``agents.apps`` at startup (:func:`local_executor_install`).
  Started with ``recover=True`` (the web server does), it also plays the
  beat sweeper's part: at start and every ``STUDIO_SWEEP_SECONDS`` it
  re-dispatches runs whose lease expired (interrupted by a restart: they
  resume from their committed steps, or fail as ``worker_lost`` past the
  attempt limit) and runs queued for too long.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from studio.celery import app as celery_app

log = logging.getLogger(__name__)

EXECUTE_RUN_TASK = "agents.tasks.execute_run"

ExecuteFn = Callable[[int], Awaitable[Any]]
SweepFn = Callable[[], int]


def run_dispatch(run_id: int) -> None:
    """Hand run ``run_id`` to an executor: a Celery worker in queue mode, else this process's
    :class:`LocalExecutor`. Call it after the run's row is committed (``transaction.on_commit``)."""
    if settings.QUEUE_MODE:
        celery_app.send_task(EXECUTE_RUN_TASK, args=(run_id,), queue=settings.STUDIO_RUNS_QUEUE)
        return
    local_executor().submit(run_id)


class LocalExecutor:
    """Executes runs in one thread with its own event loop (quickstart mode).

    ``execute(run_id)`` is the runtime's claim-and-execute coroutine
    function; ``sweep()`` the stuck-run sweeper (sync, returns how many runs
    it re-dispatched). Runs are tasks of the executor's loop, so they run
    concurrently with each other; database calls go through
    ``sync_to_async`` as everywhere else.
    """

    def __init__(self, execute: ExecuteFn, sweep: SweepFn) -> None:
        self._execute = execute
        self._sweep = sweep
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recovering = False

    def start(self, *, recover: bool = False) -> asyncio.AbstractEventLoop:
        """Start the thread (once) and return its loop. ``recover=True`` also starts the periodic
        sweep of interrupted runs, the first one right away."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=serve, name="studio-runs", daemon=True).start()
                ready.wait()
                self._loop = loop
            if recover and not self._recovering:
                self._recovering = True
                self._loop.call_soon_threadsafe(self._spawn, self._sweep_forever(), "run-sweeper")
            return self._loop

    def submit(self, run_id: int) -> None:
        """Execute run ``run_id`` soon, on the executor's loop (returns at once)."""
        loop = self.start()
        # A fresh context: the caller's (a request's) would tie the run's sync_to_async
        # calls to that request's thread, which goes away when the request ends.
        loop.call_soon_threadsafe(self._spawn, self._execute(run_id), f"run-{run_id}", context=contextvars.Context())

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)  # keep a reference until it ends
        task.add_done_callback(self._tasks.discard)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                found = await sync_to_async(self._sweep)()
                if found:
                    log.info("quickstart sweeper re-dispatched %s run(s)", found)
            except Exception:
                log.exception("quickstart sweep failed")
            await asyncio.sleep(settings.STUDIO_SWEEP_SECONDS)


_executor: LocalExecutor | None = None
_factory: Callable[[], LocalExecutor] | None = None


def local_executor_install(*, execute: ExecuteFn, sweep: SweepFn) -> None:
    """Give the quickstart executor its functions (``agents.apps`` does, at startup); the thread
    starts on first use."""
    global _factory
    _factory = lambda: LocalExecutor(execute, sweep)  # noqa: E731


def local_executor() -> LocalExecutor:
    """This process's :class:`LocalExecutor`. Raises ``RuntimeError`` before
    :func:`local_executor_install`."""
    global _executor
    if _executor is None:
        if _factory is None:
            raise RuntimeError("no local executor installed (agents.apps installs it in quickstart mode)")
        _executor = _factory()
    return _executor
