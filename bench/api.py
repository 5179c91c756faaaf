"""The 20-branch fan-out through the API: daphne + a Celery worker, as a deployment serves it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

from bench.common import ROOT, entry, graph_fanout
from bench.workers import start_bench_worker, stop_worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_key(project: Any) -> str:
    """A runner key for a ``bench`` user in ``project`` (created once)."""
    from django.contrib.auth import get_user_model

    from studio.models import ApiKey, Role
    from studio.services import membership_set

    user, _ = get_user_model().objects.get_or_create(username="bench-api")
    membership_set(project=project, user=user, role=Role.RUNNER)
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project,
        name=f"bench-{uuid.uuid4().hex[:6]}",
        prefix=raw[:8],
        hashed_key=ApiKey.hash(raw),
        role=Role.RUNNER,
        user=user,
    )
    return raw


def bench_fanout_api(fx: Any, runs: int = 5) -> dict[str, Any]:
    """``fanout_20x200ms_api_wall_ms``: ``POST …/runs`` → the run seen finished by ``GET /api/v1/runs/<id>``.

    20 agent branches against a fixture taking 200 ms per call, daphne and one
    worker -c 2 on this machine; the client polls every 10 ms (so up to 10 ms
    of the wall is polling).
    """
    import httpx

    workflow = fx.workflow("fanout", graph_fanout("slow", 20), max_concurrency=20)
    queue = f"runs-bench-{uuid.uuid4().hex[:6]}"
    port = _free_port()
    env = {**os.environ, "STUDIO_RUNS_QUEUE": queue}
    log = (ROOT / "var" / "bench-daphne.log").open("w")
    web = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker, _ = start_bench_worker(queue, name="bench-api")
    walls: list[float] = []
    try:
        headers = {"Authorization": f"Bearer {_api_key(fx.project)}"}
        url = f"http://127.0.0.1:{port}/api/v1/projects/{fx.project.slug}/workflows/{workflow.slug}/runs"
        with httpx.Client(headers=headers, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            for index in range(runs + 1):  # the first run warms the worker
                started = time.perf_counter()
                response = client.post(url, json={"inputs": {"text": "hello"}, "draft": True})
                response.raise_for_status()
                run_url = f"http://127.0.0.1:{port}/api/v1/runs/{response.json()['id']}"
                while (status := client.get(run_url).json()["status"]) in ("queued", "running"):
                    time.sleep(0.01)
                wall = (time.perf_counter() - started) * 1000
                if status != "succeeded":
                    raise RuntimeError(f"API fan-out run ended {status}")
                if index:
                    walls.append(wall)
    finally:
        stop_worker(worker)
        web.terminate()
        web.wait(timeout=20)
    return entry("fanout_20x200ms_api_wall_ms", "ms", walls, ideal_ms=200, target="<= 350", poll_interval_ms=10)
