"""``python -m bench`` (``make bench``): Studio's speed goals, measured.

Each benchmark yields an entry ``{name, unit, p50, p95, n, machine, …}``; all
are printed and written to ``bench/results.json``. The model is the benchmark
fixture in ``bench/fixture_llm_server.py`` (an OpenAI-compatible server in a
process of its own that answers instantly or after 200 ms), so what is
measured is Studio itself. The entries (targets from issue 13):

* ``node_overhead_over_floor_ms`` (ms; p50 ≤ 2, p95 ≤ 5): the marginal cost of
  one agent node beyond a raw ``httpx`` call to the same fixture measured in
  the same run (``bench/run_path.py``);
* ``node_overhead_vs_langgraph_ratio`` (x; ≤ 3): that, over the same figure
  for a LangGraph chain of the same shape (``bench/langgraph_chain.py``, run
  from ``var/bench-venv`` with ``bench/requirements.txt``);
* ``runs_per_second_steady`` (≥ 100) and ``runs_per_second_cold``: 3-node
  runs through one Celery worker ``-c 2`` (``bench/workers.py``);
* ``fanout_20x200ms_wall_ms`` (≤ 300) in-process and
  ``fanout_20x200ms_api_wall_ms`` (≤ 350) through daphne, the API and a
  worker (``bench/api.py``): 20 agent branches, 200 ms per call;
* ``worker_rss_growth_pct`` (≤ 10): a worker's pool memory over 10,000 runs;
* the editor's load/save of a 300-node workflow (``bench/bench_editor.py``);
* ``prompt_label_resolve_inprocess_ms`` (≤ 0.5), ``prompt_label_resolve_redis_ms``
  (≤ 2) and ``prompt_promotion_to_worker_ms`` (p95 ≤ 1000): label resolution
  and a label move reaching a running worker (``bench/prompt_cache.py``);
* ``otlp_ingest_spans_per_s`` (≥ 5,000): spans stored per second through the
  OTLP/HTTP receiver, protobuf batches of 500 (``bench/otlp.py``);
* ``trace_explorer_first_page_ms`` (≤ 200) and ``usage_dashboard_ms`` (≤ 300)
  over 1,000,000 synthetic spans (``bench/observability.py``);
* ``chaos_resume_after_kill`` (s): SIGKILLed workers during 200 runs, time
  until the interrupted run's next attempt is claimed (``bench/chaos.py``).

``python -m bench --only runs_per_second,fanout`` runs the benchmarks whose
names contain one of the words; ``STUDIO_BENCH_CHAOS=0`` skips the chaos one
(~100 s) and ``STUDIO_BENCH_RSS_RUNS`` changes the 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from bench.common import ROOT, Fixture, entry, graph_chain, graph_fanout, setup_django

__all__ = ["Fixture", "entry", "graph_chain", "graph_fanout", "main", "run_inprocess", "setup_django"]


def run_inprocess(workflow: Any, inputs: dict[str, Any]) -> Any:
    """Start a run and execute it in this process (no Celery); returns the finished run."""
    import asyncio
    from unittest import mock

    from agents.models import Run
    from agents.runtime import run_execute
    from bench.run_path import start_run

    run_id = start_run(workflow, inputs)
    with mock.patch("agents.runtime.run_dispatch"):
        asyncio.run(run_execute(run_id))
    return Run.objects.get(pk=run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description="Studio's benchmarks; results in bench/results.json.")
    parser.add_argument("--only", default="", help="comma-separated words: run the benchmarks whose name has one")
    args = parser.parse_args()
    wanted = [word for word in args.only.split(",") if word]

    def selected(name: str) -> bool:
        return not wanted or any(word in name for word in wanted)

    (ROOT / "var").mkdir(exist_ok=True)
    setup_django()
    fx = Fixture()
    results: list[dict[str, Any]] = []
    try:
        from bench import api, run_path, workers

        if selected("node_overhead"):
            results += run_path.bench_node_overhead(fx)
        if selected("fanout_20x200ms_wall"):
            results.append(run_path.bench_fanout(fx))
        if selected("fanout_20x200ms_api"):
            results.append(api.bench_fanout_api(fx))
        if selected("runs_per_second"):
            results += workers.bench_runs_per_second(fx)
        if selected("worker_rss"):
            results.append(workers.bench_worker_rss(fx, runs=int(os.environ.get("STUDIO_BENCH_RSS_RUNS", "10000"))))
        if selected("prompt_label_resolve"):
            from bench import prompt_cache

            results += prompt_cache.bench_resolve(fx.project)
        if selected("prompt_promotion"):
            from bench import prompt_cache

            results.append(prompt_cache.bench_promotion(fx))
        if selected("editor"):
            from bench import bench_editor

            results.extend(bench_editor.run(project=fx.project))
        if selected("otlp_ingest"):
            from bench import otlp

            results.append(otlp.bench_otlp_ingest(fx.project))
        if selected("trace_explorer") or selected("usage_dashboard"):
            from bench import observability

            results.extend(r for r in observability.run() if selected(r["name"]))
        if selected("chaos") and os.environ.get("STUDIO_BENCH_CHAOS", "1") != "0":  # ~100 s
            from bench import chaos

            results.extend(chaos.run(project=fx.project))
    finally:
        fx.close()
    for item in results:
        print(f"{item['name']:<45} p50 {item['p50']:>10} {item['unit']:<7} p95 {item['p95']:>10}  n={item['n']}")
    out = ROOT / "bench" / "results.json"
    previous = json.loads(out.read_text()) if out.exists() and wanted else []
    names = {item["name"] for item in results}
    out.write_text(json.dumps([*(p for p in previous if p["name"] not in names), *results], indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
