"""What the benchmarks share: result entries, Django setup, graphs, the fixture project and servers."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "studio_bench"


def machine() -> dict[str, Any]:
    """Where a figure was measured: platform, Python, CPUs, memory (GiB)."""
    mem_kb = 0
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
    }


def entry(name: str, unit: str, values: list[float], **extra: Any) -> dict[str, Any]:
    """One ``bench/results.json`` entry ``{name, unit, p50, p95, n, machine, …extra}`` of ``values``."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "name": name,
        "unit": unit,
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "n": len(values),
        "machine": machine(),
        **extra,
    }


def setup_django() -> None:
    """Django on the bench database (``studio_bench``, created and migrated if needed) unless DATABASE_URL says."""
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/2")
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    import dj_database_url
    import psycopg

    name = dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def field(name: str, type_: str = "str") -> dict[str, Any]:
    return {"name": name, "type": type_, "description": name, "required": True}


def agent(node_id: str, endpoint: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "agent",
        "label": node_id,
        "position": {"x": x, "y": y},
        "config": {
            "endpoint": endpoint,
            "instructions": "Answer.",
            "inputs": [field("text")],
            "outputs": [field("text")],
            "params": {"max_tokens": 16},
        },
    }


def graph_chain(endpoint: str, length: int) -> dict[str, Any]:
    """input → ``length`` agents in a row → output (``length`` 0: input → output)."""
    nodes = [
        {
            "id": "input",
            "type": "input",
            "label": "in",
            "position": {"x": 0, "y": 0},
            "config": {"fields": [field("text")]},
        }
    ]
    edges, previous = [], "input"
    for i in range(length):
        nodes.append(agent(f"a{i}", endpoint, 200 * (i + 1), 0))
        edges.append(
            {"id": f"e{i}", "source": previous, "source_port": "text", "target": f"a{i}", "target_port": "text"}
        )
        previous = f"a{i}"
    nodes.append(
        {
            "id": "output",
            "type": "output",
            "label": "out",
            "position": {"x": 200 * (length + 1), "y": 0},
            "config": {"fields": [field("text")]},
        }
    )
    edges.append({"id": "eo", "source": previous, "source_port": "text", "target": "output", "target_port": "text"})
    return {"schema": 1, "nodes": nodes, "edges": edges}


def graph_fanout(endpoint: str, width: int) -> dict[str, Any]:
    """input → ``width`` agents in parallel → output."""
    nodes = [
        {
            "id": "input",
            "type": "input",
            "label": "in",
            "position": {"x": 0, "y": 0},
            "config": {"fields": [field("text")]},
        }
    ]
    edges = []
    for i in range(width):
        nodes.append(agent(f"b{i}", endpoint, 200, 60 * i))
        edges.append(
            {"id": f"i{i}", "source": "input", "source_port": "text", "target": f"b{i}", "target_port": "text"}
        )
        edges.append(
            {"id": f"o{i}", "source": f"b{i}", "source_port": "text", "target": "output", "target_port": f"t{i}"}
        )
    nodes.append(
        {
            "id": "output",
            "type": "output",
            "label": "out",
            "position": {"x": 400, "y": 0},
            "config": {"fields": [field(f"t{i}") for i in range(width)]},
        }
    )
    return {"schema": 1, "nodes": nodes, "edges": edges}


class Fixture:
    """The bench project, its endpoints ``instant`` and ``slow`` (200 ms), and the fixture servers behind them.

    The servers run in child processes; :meth:`close` ends them.
    """

    def __init__(self, project_slug: str = "bench") -> None:
        from bench.fixture_llm_server import start_process
        from studio.models import Project
        from traces.models import ModelEndpoint, StructuredOutput

        self._servers: list[subprocess.Popen[str]] = []
        instant, self.instant_port = start_process(0.0)
        slow, self.slow_port = start_process(0.2)
        self._servers += [instant, slow]
        self.instant_base = f"http://127.0.0.1:{self.instant_port}/v1"
        self.project, _ = Project.objects.update_or_create(
            slug=project_slug, defaults={"name": "Bench", "max_running_runs": 100}
        )
        from studio.models import EgressAllowedHost

        for slug, port in (("instant", self.instant_port), ("slow", self.slow_port)):
            # The fixture listens on loopback, which the egress guard refuses at every call unless allowed.
            EgressAllowedHost.objects.get_or_create(
                project=self.project, host=f"127.0.0.1:{port}", defaults={"note": "benchmark fixture server"}
            )
            ModelEndpoint.objects.update_or_create(
                project=self.project,
                slug=slug,
                defaults={
                    "name": slug,
                    "model": "openai/fixture",
                    "api_base": f"http://127.0.0.1:{port}/v1",
                    "structured_output": StructuredOutput.JSON_OBJECT_SCHEMA,
                    "input_price_per_mtok": 0,
                    "output_price_per_mtok": 0,
                },
            )

    def workflow(self, slug: str, graph: dict[str, Any], max_concurrency: int = 4) -> Any:
        from agents.models import Workflow

        workflow, _ = Workflow.objects.update_or_create(
            project=self.project,
            slug=slug,
            defaults={"name": slug, "draft_graph": graph, "max_concurrency": max_concurrency},
        )
        return workflow

    def close(self) -> None:
        for server in self._servers:
            server.terminate()
            server.wait(timeout=10)
