"""Chaos: runs survive SIGKILLed workers — exactly one end, no duplicate side effect, bounded repeats.

The scenario (``make chaos`` runs it as ``tests/chaos/test_chaos.py``;
:func:`run` is the ``make bench`` entry ``chaos_resume_after_kill``):

* a 5-node workflow ``input → draft (agent) → notify (http POST) → review
  (agent) → output``; ``notify`` posts the run's key to a local **sink**
  (:class:`Sink`, an HTTP server on 127.0.0.1, called by this machine's
  host name, which resolves to it, allowed through ``EgressAllowedHost`` —
  the engine refuses a literal loopback address when the run executes even
  where ``run_start`` accepts an allowed one). Runs alternate between two flavours of ``notify``:
  *at most once* (no ``Idempotency-Key``: the runtime's side-effect ledger
  refuses to send twice, so a step killed after sending fails with
  ``already_sent``) and *keyed* (``Idempotency-Key: <run key>``: the resumed
  step may send again and the sink, like any API honouring the header,
  applies it once);
* the model is :class:`CountingModel`, an OpenAI-compatible server that
  answers like the benchmark fixture (``bench/fixture_llm_server.py``)
  after ``model_delay_s`` — or forwards to a real model (``model_upstream``)
  — and counts calls per (run key, node): a call cut by a SIGKILL never
  records its span, so only the server sees it was repeated;
* ``workers`` Celery workers (``-c 1``: one run each, so one kill interrupts
  at most one run) on their own queue with a short lease;
* a killer that, for ``kill_s`` seconds, every 2-5 s SIGKILLs a random
  worker — its whole process group (then starts a new worker) or its pool
  child (the master forks a new one) — and a sweeper that calls
  ``runs_sweep()`` every ``sweep_every_s`` (what beat does every 10 s);
* ``runs`` runs submitted while that goes on, keeping at most
  ``max_queued`` of them waiting for a worker (so a resumed run waits behind
  a short queue, not behind the whole batch).

:class:`ChaosReport` holds what happened; :meth:`ChaosReport.problems` lists
every broken guarantee (the test asserts it is empty):

* every run ends in a terminal state, with exactly one ``run.finished``
  event; a failed run failed with a known code (``already_sent``,
  ``worker_lost``);
* no side effect applied twice (sink, per run key); every succeeded run's
  effect applied exactly once; an at-most-once run was delivered at most once;
* repeated model calls (server count per run and node, minus one) ≤ kills,
  and per run ≤ its extra attempts; the same from the span rows.

Resume latency per kill: from the SIGKILL to the claim of the interrupted
run's next attempt (its ``run.started`` event), attributed to the first kill
after the dead attempt's last event.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAILURE_CODES = frozenset({"already_sent", "worker_lost"})  # the clear ways a run may fail under chaos
AGENT_NODES = ("draft", "review")


@dataclass
class ChaosConfig:
    """The scenario's knobs (times in seconds). Defaults are the issue's: 200 runs, 60 s of kills."""

    runs: int = 200
    kill_s: float = 60.0
    workers: int = 3
    kill_every_s: tuple[float, float] = (2.0, 5.0)
    sweep_every_s: float = 2.0
    lease_s: int = 10
    model_delay_s: float = 0.1
    max_queued: int = 3
    drain_timeout_s: float = 300.0
    model_upstream: str | None = None  # an OpenAI-compatible base URL: count calls, answer with that model
    seed: int | None = None

    @classmethod
    def from_env(cls, *, production_cadence: bool = False) -> ChaosConfig:
        """Defaults, overridden by ``STUDIO_CHAOS_RUNS``, ``STUDIO_CHAOS_KILL_S``, ``STUDIO_CHAOS_LEASE_S``,
        ``STUDIO_CHAOS_SWEEP_S``, ``STUDIO_CHAOS_MODEL`` (``local``: the local model server) and
        ``STUDIO_CHAOS_SEED``.

        ``production_cadence``: the lease is ``settings.STUDIO_RUN_LEASE_SECONDS``
        (30 s by default) and the sweeper runs as often as beat runs it (10 s),
        instead of the test's quicker 10 s lease and 2 s sweeps.
        """
        config = cls()
        if production_cadence:
            from django.conf import settings

            from studio.celery import app

            config.lease_s = int(settings.STUDIO_RUN_LEASE_SECONDS)
            config.sweep_every_s = float(app.conf.beat_schedule["sweep-expired-run-leases"]["schedule"])
        config.runs = int(os.environ.get("STUDIO_CHAOS_RUNS", config.runs))
        config.kill_s = float(os.environ.get("STUDIO_CHAOS_KILL_S", config.kill_s))
        config.lease_s = int(os.environ.get("STUDIO_CHAOS_LEASE_S", config.lease_s))
        config.sweep_every_s = float(os.environ.get("STUDIO_CHAOS_SWEEP_S", config.sweep_every_s))
        if os.environ.get("STUDIO_CHAOS_MODEL") == "local":
            from django.conf import settings

            config.model_upstream = str(settings.STUDIO_LOCAL_MODEL_URL)
        if os.environ.get("STUDIO_CHAOS_SEED"):
            config.seed = int(os.environ["STUDIO_CHAOS_SEED"])
        return config


# ----------------------------------------------------------------------------- the sink


class Sink:
    """An HTTP server on 127.0.0.1 that records every POST by the run key in its JSON body.

    ``deliveries[key]``: requests received. ``applied[key]``: requests acted
    on — every request without an ``Idempotency-Key`` header, and the first
    one of each ``Idempotency-Key`` (later ones get the stored answer, as
    APIs that honour the header do).
    """

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self._seen_keys: set[str] = set()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = str(body.get("key", ""))
                idempotency_key = self.headers.get("Idempotency-Key", "")
                with sink._lock:
                    sink.deliveries[key] += 1
                    first = not idempotency_key or idempotency_key not in sink._seen_keys
                    if first:
                        sink.applied[key] += 1
                    if idempotency_key:
                        sink._seen_keys.add(idempotency_key)
                data = json.dumps({"ok": True, "key": key, "replayed": not first}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller was SIGKILLed after sending: counted above all the same

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="chaos-sink", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------- the model


_KEY = re.compile(r"^key: (\S+)$", re.MULTILINE)
_NODE = re.compile(r"Chaos step (\w+)\.")


class CountingModel:
    """An OpenAI-compatible chat server that counts calls per (run key, node).

    It answers like ``bench.fixture_llm_server`` (a minimal object of the
    requested schema, 10 input and 5 output tokens, streaming when asked)
    after ``delay_s`` — or, with ``upstream`` (a ``…/v1`` base URL), passes
    the request to that server and relays its answer. The run key and node
    are read from the agent's messages (``key: …`` input line, ``Chaos step
    <node>.`` in the instructions).
    """

    def __init__(self, *, delay_s: float = 0.1, upstream: str | None = None) -> None:
        from bench.fixture_llm_server import _schema_of, sample_for

        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._send(200, "application/json",
                           json.dumps({"object": "list", "data": [{"id": "fixture", "object": "model"}]}).encode())

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw or b"{}")
                text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                key, node = _KEY.search(text), _NODE.search(text)
                with model._lock:
                    model.calls[(key.group(1) if key else "", node.group(1) if node else "")] += 1
                if upstream:
                    self._relay(raw)
                    return
                if delay_s:
                    time.sleep(delay_s)
                schema = _schema_of(body)
                content = json.dumps(sample_for(schema)) if schema else "ok"
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                base = {"id": "chatcmpl-chaos", "created": int(time.time()), "model": body.get("model", "fixture")}
                if body.get("stream"):
                    chunks = [
                        {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                                      "finish_reason": None}]},
                        {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                        {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage},
                    ]
                    data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                    self._send(200, "text/event-stream", data.encode())
                    return
                answer = {**base, "object": "chat.completion", "usage": usage,
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": content}}]}
                self._send(200, "application/json", json.dumps(answer).encode())

            def _relay(self, raw: bytes) -> None:
                assert upstream is not None
                request = urllib.request.Request(  # noqa: S310 - a configured local model URL
                    upstream.rstrip("/") + "/chat/completions", data=raw,
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as answer:  # noqa: S310
                        self._send(answer.status, answer.headers.get("Content-Type", "application/json"),
                                   answer.read())
                except urllib.error.HTTPError as exc:
                    self._send(exc.code, "application/json", exc.read())

            def _send(self, status: int, content_type: str, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller was SIGKILLed mid-call: that is the point

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, name="chaos-model", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------- the workflow


def loopback_name() -> str:
    """This machine's host name, which must resolve to a loopback address (the sink's URL host).

    Raises ``RuntimeError`` when it does not: the engine refuses a literal
    127.0.0.1 in a URL at execution, allowed or not.
    """
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as exc:
        raise RuntimeError(f"the host name {name!r} does not resolve: {exc}") from None
    if not str(address).startswith("127."):
        raise RuntimeError(f"the host name {name!r} resolves to {address}, not to a loopback address")
    return name


def _field(name: str, type_: str = "str") -> dict[str, Any]:
    return {"name": name, "type": type_, "description": name, "required": True}


def chaos_graph(*, endpoint: str, sink_url: str, keyed: bool) -> dict[str, Any]:
    """``input(key, text) → draft → notify (POST sink_url) → review → output(text)``.

    ``keyed``: ``notify`` sends ``Idempotency-Key: <key>`` (resendable);
    otherwise it has none and is sent at most once.
    """

    def agent(node_id: str, inputs: list[dict[str, Any]], x: int) -> dict[str, Any]:
        return {"id": node_id, "type": "agent", "label": node_id, "position": {"x": x, "y": 0},
                "config": {"endpoint": endpoint, "instructions": f"Chaos step {node_id}. Answer briefly.",
                           "inputs": inputs, "outputs": [_field("text")],
                           "params": {"max_tokens": 16, "temperature": 0}}}

    headers = {"Idempotency-Key": "{{ key }}"} if keyed else {}
    nodes = [
        {"id": "input", "type": "input", "label": "input", "position": {"x": 0, "y": 0},
         "config": {"fields": [_field("key"), _field("text")]}},
        agent("draft", [_field("key"), _field("text")], 200),
        {"id": "notify", "type": "http", "label": "notify", "position": {"x": 400, "y": 0},
         "config": {"method": "POST", "url": sink_url, "headers": headers,
                    "inputs": [_field("key"), _field("text")],
                    "body": {"key": "{{ key }}", "text": "{{ text }}"}, "request_timeout_s": 10}},
        agent("review", [_field("key"), _field("status", "int")], 600),
        {"id": "output", "type": "output", "label": "output", "position": {"x": 800, "y": 0},
         "config": {"fields": [_field("text")]}},
    ]
    wires = [("input", "key", "draft", "key"), ("input", "text", "draft", "text"),
             ("input", "key", "notify", "key"), ("draft", "text", "notify", "text"),
             ("input", "key", "review", "key"), ("notify", "status", "review", "status"),
             ("review", "text", "output", "text")]
    edges = [{"id": f"e{i}", "source": s, "source_port": sp, "target": t, "target_port": tp}
             for i, (s, sp, t, tp) in enumerate(wires)]
    return {"schema": 1, "nodes": nodes, "edges": edges}


# ----------------------------------------------------------------------------- workers and the killer


def pool_children(pid: int) -> list[int]:
    """Pids of the direct children of ``pid`` (a prefork worker's pool processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class Kill:
    """One SIGKILL: when (epoch s), how (``worker``: the process group; ``child``: the pool child), whom."""

    at: float
    mode: str
    worker: str
    pids: list[int]


class Workers:
    """``count`` Celery workers (``-c 1``, own process group each) on ``queue``; killed and replaced."""

    def __init__(self, *, count: int, queue: str, env: dict[str, str], log_dir: Path) -> None:
        self.queue, self.env, self.log_dir = queue, env, log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._generation: Counter[str] = Counter()
        self._slots = [f"chaos{i + 1}" for i in range(count)]

    def start_all(self, timeout_s: float = 120.0) -> None:
        for slot in self._slots:
            self._start(slot)
        self.wait_ready(timeout_s)

    def _start(self, slot: str) -> None:
        self._generation[slot] += 1
        name = f"{slot}g{self._generation[slot]}-{uuid.uuid4().hex[:4]}"
        log = (self.log_dir / f"{slot}.log").open("ab")
        self.procs[slot] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", self.queue, "-c", "1", "-n",
             f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout_s: float) -> None:
        """Until every worker's pool child is up (no broker round trip: the child exists once booted)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for slot, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.log_dir / f"{slot}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"worker {slot} exited with {proc.returncode}:\n{tail}")
            if all(pool_children(proc.pid) for proc in self.procs.values()):
                return
            time.sleep(0.2)  # polling process state: there is no event to wait on
        raise TimeoutError(f"chaos workers not up after {timeout_s} s")

    def kill_random(self, rng: random.Random) -> Kill | None:
        """SIGKILL a random booted worker (its group or its pool child); a killed group is replaced."""
        booted = [slot for slot, proc in self.procs.items() if proc.poll() is None and pool_children(proc.pid)]
        if not booted:
            return None
        slot = rng.choice(booted)
        proc = self.procs[slot]
        if rng.random() < 0.5:
            pids = [proc.pid, *pool_children(proc.pid)]
            at = time.time()
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            self._start(slot)
            return Kill(at=at, mode="worker", worker=slot, pids=pids)
        children = pool_children(proc.pid)
        at = time.time()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return Kill(at=at, mode="child", worker=slot, pids=children)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)


# ----------------------------------------------------------------------------- the report


@dataclass
class ChaosReport:
    """What a chaos scenario did and what came of it (see the module docstring for the checks)."""

    config: ChaosConfig
    run_ids: list[int] = field(default_factory=list)
    keys: dict[int, str] = field(default_factory=dict)
    keyed: dict[int, bool] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    error_codes: dict[int, str] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    finished_events: dict[int, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    model_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    spans: dict[tuple[int, str], int] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    unattributed_reclaims: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    kill_window_runs_finished: int = 0

    @property
    def resume_latencies_s(self) -> list[float]:
        return [r["latency_s"] for r in self.resumes]

    def repeated_model_calls(self) -> int:
        """Model calls beyond one per (run, agent node), counted at the model server."""
        return sum(max(0, count - 1) for (key, node), count in self.model_calls.items() if node in AGENT_NODES)

    def repeated_span_calls(self) -> int:
        """The same from the Span rows (a call cut by a kill records none, so this can be lower)."""
        return sum(max(0, count - 1) for count in self.spans.values())

    def duplicate_side_effects(self) -> int:
        return sum(max(0, count - 1) for count in self.applied.values())

    def problems(self) -> list[str]:
        """Every broken guarantee, as a sentence; empty when the scenario passed."""
        found = []
        for run_id in self.run_ids:
            status, key = self.statuses.get(run_id, "?"), self.keys[run_id]
            if status not in ("succeeded", "failed", "cancelled"):
                found.append(f"run {run_id} ended {status!r}, not in a terminal state")
            if self.finished_events.get(run_id, 0) != 1:
                found.append(f"run {run_id} has {self.finished_events.get(run_id, 0)} run.finished events, not 1")
            if status == "failed" and self.error_codes.get(run_id) not in FAILURE_CODES:
                found.append(f"run {run_id} failed with {self.error_codes.get(run_id)!r}, not a chaos code")
            if status == "succeeded" and self.applied.get(key, 0) != 1:
                found.append(f"run {run_id} succeeded but its side effect was applied {self.applied.get(key, 0)} times")
            if not self.keyed[run_id] and self.deliveries.get(key, 0) > 1:
                found.append(f"run {run_id} (at most once) was delivered {self.deliveries[key]} times")
            repeats = sum(max(0, self.model_calls.get((key, node), 0) - 1) for node in AGENT_NODES)
            if repeats > max(0, self.attempts.get(run_id, 1) - 1):
                found.append(f"run {run_id} repeated {repeats} model calls in {self.attempts.get(run_id)} attempts")
        if self.duplicate_side_effects():
            found.append(f"{self.duplicate_side_effects()} side effects were applied twice")
        if self.repeated_model_calls() > len(self.kills):
            found.append(f"{self.repeated_model_calls()} repeated model calls for {len(self.kills)} kills")
        if self.repeated_span_calls() > len(self.kills):
            found.append(f"{self.repeated_span_calls()} repeated spans for {len(self.kills)} kills")
        return found

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.resume_latencies_s)
        return {
            "runs": len(self.run_ids),
            "statuses": dict(Counter(self.statuses.values())),
            "failed_codes": dict(Counter(self.error_codes[r] for r, s in self.statuses.items() if s == "failed")),
            "kills": len(self.kills),
            "kills_by_mode": dict(Counter(k.mode for k in self.kills)),
            "kills_that_interrupted_a_run": len({r["kill_at"] for r in self.resumes}),
            "runs_resumed": len({r["run_id"] for r in self.resumes}),
            "unattributed_reclaims": len(self.unattributed_reclaims),
            "resume_p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "resume_p95_s": round(latencies[min(len(latencies) - 1, max(0, round(0.95 * len(latencies)) - 1))], 2)
            if latencies else None,
            "resume_max_s": round(latencies[-1], 2) if latencies else None,
            "repeated_model_calls": self.repeated_model_calls(),
            "repeated_span_calls": self.repeated_span_calls(),
            "sink_redeliveries": sum(max(0, c - 1) for c in self.deliveries.values()),
            "duplicate_side_effects": self.duplicate_side_effects(),
            "runs_finished_during_kills": self.kill_window_runs_finished,
            "seconds": round(self.seconds, 1),
            "model": self.config.model_upstream or f"counting fixture, {self.config.model_delay_s * 1000:.0f} ms",
            "lease_s": self.config.lease_s,
        }


# ----------------------------------------------------------------------------- the scenario


def _every(period_s: float, stop: threading.Event, action: Any) -> threading.Thread:
    """Call ``action()`` every ``period_s`` until ``stop`` is set, in a thread that closes its DB connections."""

    def loop() -> None:
        from django.db import connections

        try:
            while not stop.wait(period_s):
                try:
                    action()
                except Exception as exc:  # noqa: BLE001 - one failed round must not end the loop
                    print(f"chaos: {getattr(action, '__name__', action)} failed: {exc!r}", file=sys.stderr)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def run_scenario(*, project: Any, queue: str, worker_env: dict[str, str], log_dir: Path,
                 config: ChaosConfig | None = None) -> ChaosReport:
    """Run the chaos scenario in ``project`` with workers on ``queue``; returns its :class:`ChaosReport`.

    ``worker_env`` is the workers' whole environment (settings module,
    database, broker); ``STUDIO_RUNS_QUEUE`` and ``STUDIO_RUN_LEASE_SECONDS``
    are set here, and the caller's ``settings.STUDIO_RUNS_QUEUE`` must be
    ``queue`` (runs are dispatched there). Creates an endpoint, two
    workflows and an ``EgressAllowedHost`` for :func:`loopback_name` in
    ``project``.
    """
    from django.conf import settings

    from agents.models import Run, RunEvent, Workflow
    from agents.services.runs import run_start
    from agents.services.sweeper import runs_sweep
    from studio.models import EgressAllowedHost
    from traces.models import ModelEndpoint, Span, StructuredOutput

    config = config or ChaosConfig()
    assert settings.STUDIO_RUNS_QUEUE == queue, "dispatch runs to the chaos workers' queue"
    rng = random.Random(config.seed)
    log_dir.mkdir(parents=True, exist_ok=True)
    report = ChaosReport(config=config)
    sink, model = Sink(), CountingModel(delay_s=config.model_delay_s, upstream=config.model_upstream)
    host = loopback_name()
    EgressAllowedHost.objects.get_or_create(project=project, host=f"{host}:{sink.port}",
                                            defaults={"note": "the chaos test's sink"})
    endpoint_model = "openai/smollm2" if config.model_upstream else "openai/fixture"
    ModelEndpoint.objects.update_or_create(
        project=project, slug="chaos-model",
        defaults={"name": "chaos model", "model": endpoint_model, "api_base": model.base_url,
                  "structured_output": StructuredOutput.JSON_OBJECT_SCHEMA, "input_price_per_mtok": 0,
                  "output_price_per_mtok": 0, "timeout_s": 120},
    )
    sink_url = f"http://{host}:{sink.port}/hook"
    workflows = {
        keyed: Workflow.objects.update_or_create(
            project=project, slug=f"chaos-{'keyed' if keyed else 'once'}",
            defaults={"name": f"chaos {'keyed' if keyed else 'at most once'}", "max_concurrency": 1,
                      "draft_graph": chaos_graph(endpoint="chaos-model", sink_url=sink_url, keyed=keyed)},
        )[0]
        for keyed in (True, False)
    }
    env = {**worker_env, "STUDIO_RUNS_QUEUE": queue, "STUDIO_RUN_LEASE_SECONDS": str(config.lease_s),
           "PYTHONUNBUFFERED": "1"}
    workers = Workers(count=config.workers, queue=queue, env=env, log_dir=log_dir)
    stop_sweeping, stop_killing = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    lease_before = settings.STUDIO_RUN_LEASE_SECONDS
    settings.STUDIO_RUN_LEASE_SECONDS = config.lease_s
    try:
        workers.start_all()
        started = time.monotonic()
        threads.append(_every(config.sweep_every_s, stop_sweeping, runs_sweep))
        kill_until = time.monotonic() + config.kill_s

        def killer() -> None:
            while time.monotonic() < kill_until and not stop_killing.wait(rng.uniform(*config.kill_every_s)):
                kill = workers.kill_random(rng)
                if kill is not None:
                    report.kills.append(kill)

        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()
        for index in range(config.runs):
            while Run.objects.filter(pk__in=report.run_ids, status="queued").count() >= config.max_queued:
                time.sleep(0.05)  # polling run rows: the driver has no event to wait on
            keyed = index % 2 == 0
            key = f"r{index}-{uuid.uuid4().hex[:8]}"
            run = run_start(workflow=workflows[keyed], user=None,
                            inputs={"key": key, "text": f"Chaos run {index}: the quick brown fox."})
            report.run_ids.append(run.pk)
            report.keys[run.pk], report.keyed[run.pk] = key, keyed
        kill_thread.join()
        report.kill_window_runs_finished = Run.objects.filter(pk__in=report.run_ids).terminal().count()
        deadline = time.monotonic() + config.drain_timeout_s
        while Run.objects.filter(pk__in=report.run_ids).terminal().count() < len(report.run_ids):
            if time.monotonic() > deadline:
                break
            for slot, proc in workers.procs.items():  # a worker that died on its own is replaced
                if proc.poll() is not None:
                    workers._start(slot)
            time.sleep(0.2)
        report.seconds = time.monotonic() - started
    finally:
        stop_killing.set()
        stop_sweeping.set()
        for thread in threads:
            thread.join(timeout=30)
        workers.stop_all()
        sink.close()
        model.close()
        settings.STUDIO_RUN_LEASE_SECONDS = lease_before

    for run in Run.objects.filter(pk__in=report.run_ids):
        report.statuses[run.pk], report.error_codes[run.pk], report.attempts[run.pk] = (
            run.status, run.error_code, run.attempt)
    for run_id in report.run_ids:
        report.finished_events[run_id] = RunEvent.objects.filter(run_id=run_id, type="run.finished").count()
    report.deliveries, report.applied = dict(sink.deliveries), dict(sink.applied)
    report.model_calls = dict(model.calls)
    report.spans = dict(Counter(Span.objects.filter(run_id__in=report.run_ids).values_list("run_id", "node_id")))
    _attribute_resumes(report)
    return report


def _attribute_resumes(report: ChaosReport) -> None:
    """Pair each re-claim (``run.started`` of attempt ≥ 2, or the ``worker_lost`` end) with the kill that caused it.

    Runs do not record which process executed them, so this goes by time:
    the kill came after the dead attempt's last event and at least a third
    of a lease before the re-claim (a live worker renews its lease every
    third of one). Among those, the earliest kill not yet paired with
    another run (one kill interrupts at most one run: workers run one at a
    time) — so a latency is never understated.
    """
    from agents.models import RunEvent

    kills = sorted(report.kills, key=lambda k: k.at)
    reclaims: list[tuple[float, float, int, bool]] = []  # (re-claimed at, last alive at, run id, worker_lost)
    for run_id in report.run_ids:
        if report.attempts.get(run_id, 1) < 2 and report.error_codes.get(run_id) != "worker_lost":
            continue
        events = RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("type", "payload", "created_at")
        last_alive: float | None = None
        for type_, payload, created_at in events:
            at = created_at.timestamp()
            resumed = type_ == "run.started" and int(payload.get("attempt", 1)) >= 2
            lost = type_ == "run.finished" and payload.get("error_code") == "worker_lost"
            if (resumed or lost) and last_alive is not None:
                reclaims.append((at, last_alive, run_id, lost))
            last_alive = at
    used: set[int] = set()
    for at, last_alive, run_id, lost in sorted(reclaims):
        window = [i for i, k in enumerate(kills) if last_alive <= k.at <= at - report.config.lease_s / 3]
        index = next((i for i in window if i not in used), None)
        if index is None:
            report.unattributed_reclaims.append({"run_id": run_id, "at": at, "last_alive": last_alive})
            continue
        used.add(index)
        kill = kills[index]
        report.resumes.append({"run_id": run_id, "kill_at": kill.at, "mode": kill.mode, "latency_s": at - kill.at,
                               "worker_lost": lost})


def run(project: Any = None) -> list[dict[str, Any]]:
    """``make bench`` entry: the scenario against the bench database; one entry ``chaos_resume_after_kill`` (s).

    Expects Django set up (``bench.__main__.setup_django``) and the services
    up. ``project`` defaults to a ``bench-chaos`` project. Runs at the
    production cadence (30 s lease, a sweep every 10 s), so the entry's
    p50/p95 — resume latencies, SIGKILL → the run's next attempt claimed —
    are what a deployment sees (the goal: p95 within 45 s). The scenario's
    counts ride along, and ``problems`` lists broken guarantees.
    """
    from django.conf import settings

    from bench.__main__ import entry
    from studio.models import Project

    if project is None:
        project, _ = Project.objects.get_or_create(slug="bench-chaos", defaults={"name": "Bench chaos"})
    project.max_running_runs = max(project.max_running_runs, 100)
    project.save(update_fields=["max_running_runs"])
    queue = "runs-bench-chaos"
    queue_before, settings.STUDIO_RUNS_QUEUE = settings.STUDIO_RUNS_QUEUE, queue
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "studio.settings")}
    try:
        report = run_scenario(project=project, queue=queue, worker_env=env, log_dir=ROOT / "var" / "chaos",
                              config=ChaosConfig.from_env(production_cadence=True))
    finally:
        settings.STUDIO_RUNS_QUEUE = queue_before
    summary = report.summary()
    return [entry("chaos_resume_after_kill", "s", report.resume_latencies_s or [float("nan")],
                  **summary, problems=report.problems())]


if __name__ == "__main__":
    from bench.__main__ import setup_django

    (ROOT / "var").mkdir(exist_ok=True)
    setup_django()
    for item in run():
        print(json.dumps(item, indent=2, default=str))
