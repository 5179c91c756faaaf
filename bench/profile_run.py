"""Profile the run path: where a run's time goes when the model answers instantly.

``python -m bench.profile_run [--runs N] [--graph chain|fanout] [--cprofile] [--out FILE]``

Sets up the benchmark database and fixture (``bench.__main__``), executes
runs in this process the way ``engine_overhead_per_node`` does (a warm-up
run first, not profiled), and prints a profile of the profiled runs:

* with pyinstrument installed (``pip install pyinstrument``; a developer
  tool, not in requirements.txt), its call tree of the main thread's wall
  time, async-aware: a coroutine awaiting a ``sync_to_async`` thread is
  charged for the wait, but what the thread does is not shown;
* otherwise (or with ``--cprofile``), cProfile's top functions by cumulative
  time, of the main thread only.

For the database threads too, sample every thread of this script with
py-spy (``py-spy record --threads -o out.svg -- python -m bench.profile_run``).

It also prints, over the profiled runs, the per-node overhead (chain: wall
time minus model-call latency, divided by nodes, in ms) or the agent
branches' wall time (fanout: 20 branches against a 200 ms server), and the
count of SQL queries per run (connections are per thread, so queries are
counted with an execute wrapper installed on every new connection).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import threading
import time
from typing import Any


class QueryCounter:
    """Counts SQL statements executed on every connection of every thread."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)

    def install(self) -> None:
        from django.db.backends.signals import connection_created

        def on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
            if self not in connection.execute_wrappers:
                connection.execute_wrappers.append(self)

        connection_created.connect(on_connection, weak=False)
        from django.db import connections

        for conn in connections.all(initialized_only=True):  # this thread's already open ones
            if self not in conn.execute_wrappers:
                conn.execute_wrappers.append(self)


def _execute(workflow: Any, inputs: dict[str, Any]) -> Any:
    from bench.__main__ import run_inprocess

    return run_inprocess(workflow, inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--graph", choices=["chain", "fanout"], default="chain")
    parser.add_argument("--cprofile", action="store_true", help="use cProfile even if pyinstrument is installed")
    parser.add_argument("--out", help="also write the profile (pyinstrument: HTML; cProfile: pstats) here")
    args = parser.parse_args()

    from bench.__main__ import Fixture, graph_chain, graph_fanout, setup_django

    setup_django()
    from traces.models import Span

    fx = Fixture()
    if args.graph == "chain":
        workflow = fx.workflow("overhead", graph_chain("instant", 5))
    else:
        workflow = fx.workflow("fanout", graph_fanout("slow", 20), max_concurrency=20)
    counter = QueryCounter()
    counter.install()
    _execute(workflow, {"text": "warm up"})

    profiler: Any
    use_pyinstrument = not args.cprofile
    if use_pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            use_pyinstrument = False
    if use_pyinstrument:
        profiler = Profiler(interval=0.0005, async_mode="enabled")
    else:
        profiler = cProfile.Profile()
    start, stop = (profiler.start, profiler.stop) if use_pyinstrument else (profiler.enable, profiler.disable)

    per_node, queries, walls = [], [], []
    for index in range(args.runs):
        before = counter.count
        started = time.perf_counter()
        start()
        try:
            run = _execute(workflow, {"text": f"hello {index}"})
        finally:
            stop()
        walls.append((time.perf_counter() - started) * 1000)
        assert run.status == "succeeded", run.error
        queries.append(counter.count - before)
        if args.graph == "chain":
            model_ms = sum(Span.objects.filter(run_id=run.pk).values_list("latency_ms", flat=True))
            per_node.append((run.duration_ms - model_ms) / len(run.graph["nodes"]))
        else:  # calls overlap: what counts is the branches' wall time, as in fanout_20_branches_200ms_wall
            steps = run.steps.filter(node_type="agent")
            spread = max(s.finished_at for s in steps) - min(s.started_at for s in steps)
            per_node.append(spread.total_seconds() * 1000)

    if use_pyinstrument:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.out:
            with open(args.out, "w") as handle:
                handle.write(profiler.output_html())
    else:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(60)
        print(stream.getvalue())
        if args.out:
            profiler.dump_stats(args.out)
    print(f"graph={args.graph} runs={args.runs}")
    what = "overhead per node ms" if args.graph == "chain" else "agent branches' wall ms (ideal 200)"
    print(f"{what}: p50 {statistics.median(per_node):.1f}  min {min(per_node):.1f}  max {max(per_node):.1f}")
    print(f"wall per run ms (incl. run_start): p50 {statistics.median(walls):.1f}")
    print(f"SQL queries per run (all threads, incl. run_start): p50 {statistics.median(queries):.0f}")


if __name__ == "__main__":
    main()
