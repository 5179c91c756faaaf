"""Server time of the visual builder on a 300-node workflow (``make bench`` calls :func:`run`).

Entries (milliseconds, measured in process with Django's test client, so no
network or browser time is included):

* ``editor_load_300_nodes``: ``GET /p/<project>/w/<workflow>/edit/`` — the page
  with its boot JSON (draft, ports of every node, node catalog);
* ``editor_api_get_300_nodes``: ``GET /api/v1/workflows/<id>/`` (draft + ports);
* ``editor_save_300_nodes``: ``PUT /api/v1/workflows/<id>/draft/`` of the whole
  graph with its ``base_revision`` (lock, shape check, write, audit event).

Standalone: ``python -m bench.bench_editor`` (uses ``DATABASE_URL``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Any

NODES = 300
WARMUP = 3
SAMPLES = 30


def _machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


def _entry(name: str, values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "name": name,
        "unit": "ms",
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "n": len(values),
        "machine": _machine(),
    }


def graph_300(count: int = NODES) -> dict[str, Any]:
    """A realistic 300-node graph: input, agents/templates in 15 rows of 20, output; 299 edges."""
    field = {"name": "text", "type": "str", "description": "text", "required": True}
    nodes: list[dict[str, Any]] = [
        {"id": "input", "type": "input", "label": "In", "config": {"fields": [field]}, "position": {"x": 0, "y": 0}}
    ]
    edges = []
    previous = "input"
    for i in range(1, count - 1):
        node_id = f"n{i}"
        if i % 3:
            config: dict[str, Any] = {"template": "{{ text }} and more", "inputs": [field]}
            node_type = "template"
        else:
            config = {
                "endpoint": "local",
                "instructions": f"Step {i}: rewrite the text.",
                "inputs": [field],
                "outputs": [field],
                "params": {"max_tokens": 64},
            }
            node_type = "agent"
        nodes.append(
            {
                "id": node_id,
                "type": node_type,
                "label": f"Step {i}",
                "config": config,
                "position": {"x": (i % 20) * 300, "y": (i // 20) * 180},
            }
        )
        edges.append(
            {"id": f"e{i}", "source": previous, "source_port": "text", "target": node_id, "target_port": "text"}
        )
        previous = node_id
    nodes.append(
        {
            "id": "output",
            "type": "output",
            "label": "Out",
            "config": {"fields": [field]},
            "position": {"x": 0, "y": 16 * 180},
        }
    )
    edges.append({"id": "e-out", "source": previous, "source_port": "text", "target": "output", "target_port": "text"})
    return {"schema": 1, "nodes": nodes, "edges": edges}


def _timed(call: Any, samples: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(*, project: Any, samples: int = SAMPLES) -> list[dict[str, Any]]:
    """Measure load and save of a 300-node workflow in ``project``; returns bench entries.

    Creates a throwaway workflow and user, and deletes both afterwards.
    """
    from django.contrib.auth import get_user_model
    from django.test import Client

    from agents.services.workflows import workflow_create
    from studio.models import Membership

    user, _ = get_user_model().objects.get_or_create(username="bench-editor")
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": "owner"})
    workflow = workflow_create(project=project, user=user, name="Bench 300 nodes", graph=graph_300())
    client = Client()
    client.force_login(user)
    page_url = f"/p/{project.slug}/w/{workflow.slug}/edit/"
    api_url = f"/api/v1/workflows/{workflow.pk}/"
    draft_url = f"/api/v1/workflows/{workflow.pk}/draft/"
    graph = graph_300()
    revision = {"value": workflow.draft_revision}

    def load() -> None:
        response = client.get(page_url)
        assert response.status_code == 200, response.status_code

    def api_get() -> None:
        response = client.get(api_url)
        assert response.status_code == 200, response.status_code

    def save() -> None:
        graph["nodes"][1]["position"]["x"] += 1  # a real change, like a drag
        response = client.put(
            draft_url,
            data=json.dumps({"graph": graph, "base_revision": revision["value"]}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content[:200]
        revision["value"] = response.json()["draft_revision"]

    try:
        return [
            _entry("editor_load_300_nodes", _timed(load, samples)),
            _entry("editor_api_get_300_nodes", _timed(api_get, samples)),
            _entry("editor_save_300_nodes", _timed(save, samples)),
        ]
    finally:
        workflow.delete()


def main() -> None:
    """``python -m bench.bench_editor``: run against ``DATABASE_URL`` and print the entries."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    from studio.models import Project

    project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    for item in run(project=project):
        print(json.dumps(item))


if __name__ == "__main__":
    main()
