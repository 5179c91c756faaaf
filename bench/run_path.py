"""In-process benchmarks of the run path: per-node overhead over a raw HTTP call, the LangGraph ratio, fan-out.

Runs execute in this process on one persistent event loop (as a worker's pool
process does), against the fixture server in a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any
from unittest import mock

from bench.common import ROOT, entry, graph_chain, graph_fanout

#: Agent nodes in the chain whose marginal cost per node is measured (the issue profiled a 7-node chain).
CHAIN_NODES = 7
BENCH_VENV = ROOT / "var" / "bench-venv"


def start_run(workflow: Any, inputs: dict[str, Any]) -> int:
    """A queued run of ``workflow``'s draft, not dispatched (the caller executes it). Returns its id."""
    from agents.services.runs import run_start

    with mock.patch("agents.services.runs.run_dispatch"):
        return int(run_start(workflow=workflow, user=None, inputs=inputs).pk)


def execute(runner: asyncio.Runner, run_id: int) -> float:
    """Execute run ``run_id`` on ``runner``'s loop; returns the wall time in ms (claim to final commit)."""
    from agents.models import Run
    from agents.runtime import run_execute

    started = time.perf_counter()
    with mock.patch("agents.runtime.run_dispatch"):  # a finished run hands the project's next queued one on
        runner.run(run_execute(run_id))
    wall = (time.perf_counter() - started) * 1000
    status = Run.objects.filter(pk=run_id).values_list("status", "error").get()
    if status[0] != "succeeded":
        raise RuntimeError(f"bench run {run_id} ended {status[0]}: {status[1]}")
    return wall


def _request_body(text: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "text"}},
        "required": ["text"],
        "additionalProperties": False,
    }
    return {
        "model": "fixture",
        "messages": [{"role": "system", "content": "Answer."}, {"role": "user", "content": f"text: {text}"}],
        "response_format": {"type": "json_object", "schema": schema},
        "max_tokens": 16,
    }


def floor_ms(runner: asyncio.Runner, client: Any, calls: int) -> float:
    """Mean ms of ``calls`` raw ``httpx`` POSTs to the instant fixture (JSON decoded): the floor."""

    async def measure() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            (await client.post("/chat/completions", json=_request_body("hello"))).json()
        return (time.perf_counter() - started) * 1000 / calls

    return runner.run(measure())


def bench_node_overhead(fx: Any, runs: int = 30) -> list[dict[str, Any]]:
    """``node_overhead_over_floor_ms`` and ``node_overhead_vs_langgraph_ratio``.

    One sample per iteration: (wall of an input → 7 agents → output run - wall
    of an input → output run) / 7 - the floor, the floor being the mean of 7
    raw ``httpx`` calls to the same fixture made right before. So a sample is
    the marginal cost of one agent node beyond its HTTP call: engine, gateway,
    span, durable step commit and events. The per-run fixed cost (claim,
    trace, final state) is reported as ``run_fixed_ms``.
    """

    chain = fx.workflow("chain", graph_chain("instant", CHAIN_NODES))
    empty = fx.workflow("empty", graph_chain("instant", 0))
    samples: list[float] = []
    fixed: list[float] = []
    floors: list[float] = []
    with asyncio.Runner() as runner:
        client = runner.run(_client(fx.instant_base))
        for _ in range(3):  # warm up: imports, connections, caches
            execute(runner, start_run(chain, {"text": "warm"}))
            execute(runner, start_run(empty, {"text": "warm"}))
            floor_ms(runner, client, CHAIN_NODES)
        for _ in range(runs):
            chain_id, empty_id = start_run(chain, {"text": "hello"}), start_run(empty, {"text": "hello"})
            floor = floor_ms(runner, client, CHAIN_NODES)
            empty_wall = execute(runner, empty_id)
            chain_wall = execute(runner, chain_id)
            floors.append(floor)
            fixed.append(empty_wall)
            samples.append((chain_wall - empty_wall) / CHAIN_NODES - floor)
        runner.run(client.aclose())
        _close_db_threads(runner)
    studio = entry(
        "node_overhead_over_floor_ms",
        "ms",
        samples,
        chain_nodes=CHAIN_NODES,
        floor_ms_p50=round(statistics.median(floors), 3),
        run_fixed_ms_p50=round(statistics.median(fixed), 3),
        target={"p50": 2, "p95": 5},
    )
    results = [studio]
    langgraph = _langgraph(fx.instant_port, runs)
    if langgraph is not None:
        overhead = [node - floor for node, floor in zip(langgraph["per_node_ms"], langgraph["floor_ms"], strict=True)]
        lg_p50 = max(statistics.median(overhead), 1e-3)
        lg = entry("langgraph_node_overhead_over_floor_ms", "ms", overhead)
        results.append(lg)
        results.append(
            entry(
                "node_overhead_vs_langgraph_ratio",
                "x",
                [studio["p50"] / lg_p50],
                n_runs=runs,
                studio_p50_ms=studio["p50"],
                studio_p95_ms=studio["p95"],
                langgraph_p50_ms=lg["p50"],
                langgraph_p95_ms=lg["p95"],
                p95_ratio=round(studio["p95"] / max(lg["p95"], 1e-3), 2),
                target="<= 3",
            )
        )
    return results


async def _client(base: str) -> Any:
    import httpx

    return httpx.AsyncClient(base_url=base)


def _close_db_threads(runner: asyncio.Runner) -> None:
    from asgiref.sync import sync_to_async
    from django.db import connections

    runner.run(sync_to_async(connections.close_all)())


def _langgraph(port: int, runs: int) -> dict[str, list[float]] | None:
    """The LangGraph chain's floor and per-node times, from ``var/bench-venv`` (None when it is not installed)."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        print("var/bench-venv is missing (make bench installs bench/requirements.txt there): LangGraph skipped")
        return None
    script = Path(__file__).with_name("langgraph_chain.py")
    out = subprocess.run(
        [str(python), str(script), "--port", str(port), "--nodes", str(CHAIN_NODES), "--runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    data: dict[str, list[float]] = json.loads(out.stdout)
    return data


def bench_fanout(fx: Any, runs: int = 5) -> dict[str, Any]:
    """``fanout_20x200ms_wall_ms``: wall of a run with 20 agent branches against a fixture taking 200 ms per call.

    Claim to final commit, in-process (ideal ≈ 200 ms; sequential = 4 s).
    """
    from agents.models import Step

    workflow = fx.workflow("fanout", graph_fanout("slow", 20), max_concurrency=20)
    walls: list[float] = []
    spans: list[float] = []
    with asyncio.Runner() as runner:
        execute(runner, start_run(workflow, {"text": "warm"}))
        for _ in range(runs):
            run_id = start_run(workflow, {"text": "hello"})
            walls.append(execute(runner, run_id))
            steps = list(Step.objects.filter(run_id=run_id, node_type="agent").values_list("started_at", "finished_at"))
            spans.append((max(f for _, f in steps) - min(s for s, _ in steps)).total_seconds() * 1000)
        _close_db_threads(runner)
    return entry(
        "fanout_20x200ms_wall_ms",
        "ms",
        walls,
        ideal_ms=200,
        sequential_ms=4000,
        target="<= 300",
        first_step_start_to_last_step_end_ms_p50=round(statistics.median(spans), 1),
    )
