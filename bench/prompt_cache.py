"""Prompt label resolution (``prompts.cache``) and promotion to a running worker, measured.

* ``prompt_label_resolve_inprocess_ms`` (goal p50 ≤ 0.5): ``prompt_label_resolve``
  answered from this process's copy (the listener subscribed).
* ``prompt_label_resolve_redis_ms`` (goal p50 ≤ 2): the same with the local
  copy dropped before each call, so Redis answers.
* ``prompt_promotion_to_worker_ms`` (goal p95 ≤ 1000): from a committed label
  move (``prompt_label_move`` returned) to the start of the model call of the
  first run that uses the new version, on one Celery worker ``-c 2`` started
  before the move and warmed on the old version (runs are started one after
  another until one uses the new version, so a missed invalidation shows).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import entry, field

PROMPT_SLUG = "bench-greeting"


def _prompt(project: Any) -> tuple[Any, Any, Any]:
    """The bench prompt with two versions (created once); returns (prompt, v1, v2)."""
    from prompts.models import Prompt
    from prompts.services import prompt_label_move, prompt_version_commit

    prompt, _ = Prompt.objects.get_or_create(project=project, slug=PROMPT_SLUG, defaults={"name": "Bench greeting"})
    while prompt.versions.count() < 2:
        n = prompt.versions.count() + 1
        prompt_version_commit(
            prompt=prompt,
            user=None,
            messages=[{"role": "user", "content": f"v{n}: greet {{{{ name }}}}"}],
            variables=["name"],
        )
    v1, v2 = prompt.versions.get(version=1), prompt.versions.get(version=2)
    if not prompt.labels.filter(name="production").exists():
        prompt_label_move(prompt=prompt, label="production", version=v1, user=None)
    return prompt, v1, v2


def graph_prompt(endpoint: str) -> dict[str, Any]:
    """input(text) → llm (its ``name``: the bench prompt by label ``production``) → output(text)."""
    return {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "in",
                "position": {"x": 0, "y": 0},
                "config": {"fields": [field("text")]},
            },
            {
                "id": "greeter",
                "type": "llm",
                "label": "greeter",
                "position": {"x": 200, "y": 0},
                "config": {
                    "endpoint": endpoint,
                    "prompt": {"slug": PROMPT_SLUG, "label": "production"},
                    "inputs": [field("name")],
                    "params": {"max_tokens": 8},
                },
            },
            {
                "id": "output",
                "type": "output",
                "label": "out",
                "position": {"x": 400, "y": 0},
                "config": {"fields": [field("text")]},
            },
        ],
        "edges": [
            {"id": "e1", "source": "input", "source_port": "text", "target": "greeter", "target_port": "name"},
            {"id": "e2", "source": "greeter", "source_port": "text", "target": "output", "target_port": "text"},
        ],
    }


def bench_resolve(project: Any, *, calls: int = 2000) -> list[dict[str, Any]]:
    """``prompt_label_resolve_inprocess_ms`` and ``prompt_label_resolve_redis_ms`` (ms per call)."""
    from prompts.cache import label_cache, prompt_label_resolve

    _prompt(project)
    cache = label_cache()
    cache.ensure_listener()
    if not cache.subscribed_event.wait(10):
        raise RuntimeError("the prompt cache listener did not subscribe")
    args = {"project_id": project.pk, "slug": PROMPT_SLUG, "label": "production"}
    prompt_label_resolve(**args)  # fills Redis and the local copy
    local = []
    for _ in range(calls):
        started = time.perf_counter()
        prompt_label_resolve(**args)
        local.append((time.perf_counter() - started) * 1000)
    remote = []
    for _ in range(calls):
        cache.drop_local(project.pk, PROMPT_SLUG, "production")
        started = time.perf_counter()
        prompt_label_resolve(**args)
        remote.append((time.perf_counter() - started) * 1000)
    return [
        entry("prompt_label_resolve_inprocess_ms", "ms", local, target="p50 <= 0.5"),
        entry("prompt_label_resolve_redis_ms", "ms", remote, target="p50 <= 2"),
    ]


def bench_promotion(
    fx: Any,
    *,
    moves: int = 20,
    queue: str | None = None,
    start_worker: Callable[[str], tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """``prompt_promotion_to_worker_ms``: label move → first run on the new version (see the module docstring)."""
    from agents.models import Run
    from bench.workers import create_runs, dispatch, start_bench_worker, stop_worker, wait_terminal
    from prompts.services import prompt_label_move
    from traces.models import Span

    prompt, v1, v2 = _prompt(fx.project)
    prompt_label_move(prompt=prompt, label="production", version=v1, user=None)
    workflow = fx.workflow("prompt-greeter", graph_prompt("instant"))
    queue = queue or f"runs-bench-{uuid.uuid4().hex[:6]}"
    proc, _ = (start_worker or start_bench_worker)(queue)
    values: list[float] = []
    extra_runs = 0
    try:
        warm = create_runs(workflow, 6)
        dispatch(warm, queue)
        wait_terminal(warm, 120)
        for i in range(moves):
            target = v2 if i % 2 == 0 else v1
            prompt_label_move(prompt=prompt, label="production", version=target, user=None)
            moved = time.time()
            for attempt in range(50):
                (run_id,) = create_runs(workflow, 1)
                dispatch([run_id], queue)
                wait_terminal([run_id], 60)
                span = Span.objects.filter(run_id=run_id, node_id="greeter").order_by("started_at").first()
                if span is not None and span.prompt_version_id == target.pk:
                    values.append((span.started_at.timestamp() - moved) * 1000)
                    extra_runs += attempt
                    break
            else:
                raise RuntimeError(f"no run used version {target.version} after 50 runs")
        assert Run.objects.filter(workflow=workflow).exists()
    finally:
        stop_worker(proc)
    return entry(
        "prompt_promotion_to_worker_ms",
        "ms",
        values,
        target="p95 <= 1000",
        worker_concurrency=2,
        runs_on_the_old_version_after_a_move=extra_runs,
    )
