"""Benchmarks through real Celery workers: runs per second (steady and cold) and worker memory over many runs.

Runs are created with ``run_start`` (dispatch held back), then handed to the
worker's queue at once, so what is measured is the worker, not how fast this
process can create runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from bench.common import ROOT, entry, graph_chain

#: Starts a worker on a queue: ``(queue) -> (process, log path)``; the process must be the worker's master.
WorkerStarter = Callable[[str], tuple[subprocess.Popen[Any], Path]]


def start_bench_worker(queue: str, *, concurrency: int = 2, name: str = "bench") -> tuple[subprocess.Popen[Any], Path]:
    """A Celery worker (``-c concurrency``) on ``queue`` with this process's settings; returns once it answers."""
    from studio.celery import app

    (ROOT / "var").mkdir(exist_ok=True)
    log = ROOT / "var" / f"bench-worker-{name}.log"
    node = f"{name}-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "studio",
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-n",
            f"{node}@%h",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while not any(f"{node}@" in key for reply in (app.control.ping(timeout=0.5) or []) for key in reply):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the bench worker did not start:\n{log.read_text()[-2000:]}")
    return proc, log


def stop_worker(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def create_runs(workflow: Any, count: int) -> list[int]:
    """``count`` queued runs of ``workflow`` (not dispatched)."""
    from agents.services.runs import run_start

    with mock.patch("agents.services.runs.run_dispatch"):
        return [int(run_start(workflow=workflow, user=None, inputs={"text": str(i)}).pk) for i in range(count)]


def dispatch(run_ids: list[int], queue: str) -> None:
    from agents.tasks import execute_run

    for run_id in run_ids:
        execute_run.apply_async((run_id,), queue=queue)


def wait_terminal(run_ids: list[int], timeout_s: float) -> None:
    from agents.models import Run

    deadline = time.monotonic() + timeout_s
    while Run.objects.filter(pk__in=run_ids).terminal().count() < len(run_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench runs did not finish in {timeout_s} s")
        time.sleep(0.1)
    failed = Run.objects.filter(pk__in=run_ids).exclude(status="succeeded").values_list("error", flat=True)[:1]
    if failed:
        raise RuntimeError(f"a bench run failed: {failed[0]}")


def _span_s(run_ids: list[int]) -> tuple[float, float]:
    """(first started_at, last finished_at) of the runs, as UNIX seconds."""
    from django.db.models import Max, Min

    from agents.models import Run

    agg = Run.objects.filter(pk__in=run_ids).aggregate(first=Min("started_at"), last=Max("finished_at"))
    return agg["first"].timestamp(), agg["last"].timestamp()


def bench_runs_per_second(fx: Any, *, steady_runs: int = 300, cold_runs: int = 100) -> list[dict[str, Any]]:
    """``runs_per_second_steady`` and ``runs_per_second_cold``: 3-node runs (input → agent → output), one worker -c 2.

    Steady: after 40 warm-up runs, ``steady_runs`` runs handed over at once;
    runs / (last finish - first start). Cold: a fresh worker started after
    ``cold_runs`` runs were queued; runs / (last finish - the worker's spawn),
    so it includes the worker's boot and each pool child's first run.
    """
    workflow = fx.workflow("three-nodes", graph_chain("instant", 1))
    queue = f"runs-bench-{uuid.uuid4().hex[:6]}"
    proc, _ = start_bench_worker(queue)
    try:
        warm = create_runs(workflow, 40)
        dispatch(warm, queue)
        wait_terminal(warm, 120)
        ids = create_runs(workflow, steady_runs)
        dispatch(ids, queue)
        wait_terminal(ids, 600)
    finally:
        stop_worker(proc)
    first, last = _span_s(ids)
    steady = entry(
        "runs_per_second_steady",
        "runs/s",
        [steady_runs / (last - first)],
        runs=steady_runs,
        seconds=round(last - first, 3),
        worker_concurrency=2,
        target=">= 100",
    )

    ids = create_runs(workflow, cold_runs)
    dispatch(ids, queue)
    spawned = time.time()
    proc, _ = start_bench_worker(queue)
    ready = time.time()
    try:
        wait_terminal(ids, 600)
    finally:
        stop_worker(proc)
    _, last = _span_s(ids)
    from django.db.models import Min

    from agents.models import Run

    first_done = Run.objects.filter(pk__in=ids).aggregate(first=Min("finished_at"))["first"].timestamp()
    cold = entry(
        "runs_per_second_cold",
        "runs/s",
        [cold_runs / (last - spawned)],
        runs=cold_runs,
        seconds_from_spawn=round(last - spawned, 3),
        worker_ready_s=round(ready - spawned, 3),
        first_run_done_s=round(first_done - spawned, 3),
        worker_concurrency=2,
    )
    return [steady, cold]


def pool_rss_kb(master_pid: int) -> int:
    """Resident memory (KB) of a Celery master's pool processes (its children), summed."""
    total = 0
    for child in _children(master_pid):
        try:
            with open(f"/proc/{child}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(item) for item in children.read().split()]
    except OSError:
        pass
    return found


def bench_worker_rss(
    fx: Any,
    *,
    runs: int = 10_000,
    warmup: int = 300,
    batch: int = 500,
    start_worker: WorkerStarter | None = None,
    queue: str | None = None,
) -> dict[str, Any]:
    """``worker_rss_growth_pct``: the pool's resident memory after ``runs`` 3-node runs, against after ``warmup``.

    growth % = (RSS after all runs - RSS after the warm-up) / RSS after the
    warm-up x 100, summed over the pool processes of one worker -c 2.
    ``start_worker``/``queue``: how to start the worker and on which queue
    (the tests pass the test suite's); by default :func:`start_bench_worker`.
    """
    workflow = fx.workflow("three-nodes", graph_chain("instant", 1))
    queue = queue or f"runs-bench-{uuid.uuid4().hex[:6]}"
    proc, _ = (start_worker or start_bench_worker)(queue)
    try:
        ids = create_runs(workflow, warmup)
        dispatch(ids, queue)
        wait_terminal(ids, 600)
        base_kb = pool_rss_kb(proc.pid)
        done = 0
        while done < runs:
            ids = create_runs(workflow, min(batch, runs - done))
            dispatch(ids, queue)
            wait_terminal(ids, 900)
            done += len(ids)
        final_kb = pool_rss_kb(proc.pid)
    finally:
        stop_worker(proc)
    growth = (final_kb - base_kb) / base_kb * 100 if base_kb else float("nan")
    return entry(
        "worker_rss_growth_pct",
        "%",
        [growth],
        runs=runs,
        warmup_runs=warmup,
        rss_after_warmup_kb=base_kb,
        rss_after_runs_kb=final_kb,
        per_run_bytes=round((final_kb - base_kb) * 1024 / max(runs, 1), 1),
        target="<= 10",
    )
