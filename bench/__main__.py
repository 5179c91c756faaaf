"""``python -m bench`` (``make bench``): Studio's speed goals, measured.

Each benchmark yields an entry ``{name, unit, p50, p95, n, machine}``; all are
printed and written to ``bench/results.json``. The model is the benchmark
fixture in ``bench/fixture_llm_server.py`` (an OpenAI-compatible server that
answers after a fixed delay), so what is measured is Studio itself:

* ``engine_overhead_per_node`` (ms): run wall time minus the time spent in
  model calls (span latencies), divided by the number of nodes — the engine,
  the runtime's checkpoints and events, and the gateway.
* ``runs_per_second_3_nodes_one_worker`` (runs/s): 40 runs of input → agent →
  output through one Celery worker process.
* ``fanout_20_branches_200ms_wall`` (ms): one run with 20 agent branches in
  parallel against a server that takes 200 ms per call (ideal ≈ 200 ms).
* the editor's load/save of a 300-node workflow (``bench/bench_editor.py``).
* ``chaos_resume_after_kill`` (s): SIGKILLed workers during 200 runs, time
  until the interrupted run's next attempt is claimed (``bench/chaos.py``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "studio_bench"


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        mem_kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gib": round(mem_kb / 1024 / 1024, 1)}


def entry(name: str, unit: str, values: list[float], **extra: Any) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"name": name, "unit": unit, "p50": round(statistics.median(ordered), 3), "p95": round(p95, 3),
            "n": len(values), "machine": machine(), **extra}


def setup_django() -> None:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/2")
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def field(name: str, type_: str = "str") -> dict[str, Any]:
    return {"name": name, "type": type_, "description": name, "required": True}


def agent(node_id: str, endpoint: str, x: int, y: int) -> dict[str, Any]:
    return {"id": node_id, "type": "agent", "label": node_id, "position": {"x": x, "y": y},
            "config": {"endpoint": endpoint, "instructions": "Answer.", "inputs": [field("text")],
                       "outputs": [field("text")], "params": {"max_tokens": 16}}}


def graph_chain(endpoint: str, length: int) -> dict[str, Any]:
    nodes = [{"id": "input", "type": "input", "label": "in", "position": {"x": 0, "y": 0},
              "config": {"fields": [field("text")]}}]
    edges, previous = [], "input"
    for i in range(length):
        nodes.append(agent(f"a{i}", endpoint, 200 * (i + 1), 0))
        edges.append({"id": f"e{i}", "source": previous, "source_port": "text", "target": f"a{i}",
                      "target_port": "text"})
        previous = f"a{i}"
    nodes.append({"id": "output", "type": "output", "label": "out", "position": {"x": 200 * (length + 1), "y": 0},
                  "config": {"fields": [field("text")]}})
    edges.append({"id": "eo", "source": previous, "source_port": "text", "target": "output", "target_port": "text"})
    return {"schema": 1, "nodes": nodes, "edges": edges}


def graph_fanout(endpoint: str, width: int) -> dict[str, Any]:
    nodes = [{"id": "input", "type": "input", "label": "in", "position": {"x": 0, "y": 0},
              "config": {"fields": [field("text")]}}]
    edges = []
    for i in range(width):
        nodes.append(agent(f"b{i}", endpoint, 200, 60 * i))
        edges.append({"id": f"i{i}", "source": "input", "source_port": "text", "target": f"b{i}", "target_port": "text"})
        edges.append({"id": f"o{i}", "source": f"b{i}", "source_port": "text", "target": "output",
                      "target_port": f"t{i}"})
    nodes.append({"id": "output", "type": "output", "label": "out", "position": {"x": 400, "y": 0},
                  "config": {"fields": [field(f"t{i}") for i in range(width)]}})
    return {"schema": 1, "nodes": nodes, "edges": edges}


class Fixture:
    """The project and endpoints the benchmarks use."""

    def __init__(self) -> None:
        from bench.fixture_llm_server import make_server
        from studio.models import Project
        from traces.models import ModelEndpoint, StructuredOutput

        self.instant = make_server(0.0)
        self.slow = make_server(0.2)
        self.project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench",
                                                                               "max_running_runs": 100})
        for slug, server in (("instant", self.instant), ("slow", self.slow)):
            ModelEndpoint.objects.update_or_create(
                project=self.project, slug=slug,
                defaults={"name": slug, "model": "openai/fixture",
                          "api_base": f"http://127.0.0.1:{server.server_address[1]}/v1",
                          "structured_output": StructuredOutput.JSON_OBJECT_SCHEMA,
                          "input_price_per_mtok": 0, "output_price_per_mtok": 0},
            )

    def workflow(self, slug: str, graph: dict[str, Any], max_concurrency: int = 4) -> Any:
        from agents.models import Workflow

        workflow, _ = Workflow.objects.update_or_create(
            project=self.project, slug=slug,
            defaults={"name": slug, "draft_graph": graph, "max_concurrency": max_concurrency},
        )
        return workflow


def run_inprocess(workflow: Any, inputs: dict[str, Any]) -> Any:
    """Start a run and execute it in this process (no Celery); returns the finished run."""
    import asyncio

    from django.conf import settings

    from agents.runtime import run_execute
    from agents.services.runs import run_start

    queue_mode, settings.QUEUE_MODE = settings.QUEUE_MODE, False
    try:
        from unittest import mock

        with mock.patch("agents.services.runs.run_dispatch"):
            run = run_start(workflow=workflow, user=None, inputs=inputs)
        asyncio.run(run_execute(run.pk))
    finally:
        settings.QUEUE_MODE = queue_mode
    run.refresh_from_db()
    return run


def bench_engine_overhead(fx: Fixture, n: int = 30) -> dict[str, Any]:
    from traces.models import Span

    workflow = fx.workflow("overhead", graph_chain("instant", 5))
    run_inprocess(workflow, {"text": "warm up"})
    per_node = []
    for _ in range(n):
        run = run_inprocess(workflow, {"text": "hello"})
        assert run.status == "succeeded", run.error
        model_ms = sum(Span.objects.filter(run_id=run.pk).values_list("latency_ms", flat=True))
        nodes = len(run.graph["nodes"])
        per_node.append((run.duration_ms - model_ms) / nodes)
    return entry("engine_overhead_per_node", "ms", per_node)


def bench_fanout(fx: Fixture, n: int = 5) -> dict[str, Any]:
    workflow = fx.workflow("fanout", graph_fanout("slow", 20), max_concurrency=20)
    walls = []
    for _ in range(n):
        run = run_inprocess(workflow, {"text": "hello"})
        assert run.status == "succeeded", run.error
        steps = run.steps.filter(node_type="agent")
        walls.append((max(s.finished_at for s in steps) - min(s.started_at for s in steps)).total_seconds() * 1000)
    return entry("fanout_20_branches_200ms_wall", "ms", walls, ideal_ms=200, sequential_ms=4000)


def bench_runs_per_second(fx: Fixture, n: int = 40) -> dict[str, Any]:
    from agents.models import Run
    from agents.services.runs import run_start
    from studio.celery import app

    workflow = fx.workflow("three-nodes", graph_chain("instant", 1))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_RUNS_QUEUE": "runs-bench"}
    log = open(ROOT / "var" / "bench-worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", "runs-bench", "-c", "2", "-n",
         "bench@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    from django.conf import settings

    settings.STUDIO_RUNS_QUEUE = "runs-bench"
    try:
        deadline = time.monotonic() + 60
        while not any("bench@" in k for r in (app.control.ping(timeout=0.5) or []) for k in r):
            if time.monotonic() > deadline:
                raise TimeoutError("bench worker did not start")
        started = time.monotonic()
        ids = [run_start(workflow=workflow, user=None, inputs={"text": str(i)}).pk for i in range(n)]
        while Run.objects.filter(pk__in=ids).terminal().count() < n:
            if time.monotonic() - started > 300:
                raise TimeoutError("bench runs did not finish")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    rate = n / elapsed
    return entry("runs_per_second_3_nodes_one_worker", "runs/s", [rate], runs=n, seconds=round(elapsed, 2))


def main() -> None:
    (ROOT / "var").mkdir(exist_ok=True)
    setup_django()
    fx = Fixture()
    results = [bench_engine_overhead(fx), bench_fanout(fx), bench_runs_per_second(fx)]
    try:
        from bench import bench_editor
    except ImportError:
        bench_editor = None  # type: ignore[assignment]
    if bench_editor is not None:
        results.extend(bench_editor.run(project=fx.project))
    if os.environ.get("STUDIO_BENCH_CHAOS", "1") != "0":  # ~100 s; STUDIO_BENCH_CHAOS=0 skips it
        from bench import chaos

        results.extend(chaos.run(project=fx.project))
    for item in results:
        print(f"{item['name']:<45} p50 {item['p50']:>10} {item['unit']:<7} p95 {item['p95']:>10}  n={item['n']}")
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
