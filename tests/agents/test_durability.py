"""A run survives a SIGKILLed worker: it resumes on a live worker and no finished step runs again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from agents.models import Run, RunStatus, Step, Workflow
from agents.services.runs import run_start
from agents.services.sweeper import runs_sweep
from tests.fixtures.services import start_worker, stop
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]

QUEUE = os.environ["STUDIO_RUNS_QUEUE"] + "-durability"
LEASE_S = "4"


def _field(name: str) -> dict:
    return {"name": name, "type": "str", "description": name, "required": True}


def chain_graph(length: int) -> dict:
    """input → agent a1 → … → a<length> → output, each agent rewriting the text."""
    nodes = [{"id": "input", "type": "input", "label": "Input", "position": {"x": 0, "y": 0},
              "config": {"fields": [_field("text")]}}]
    edges = []
    previous = "input"
    for index in range(1, length + 1):
        node_id = f"a{index}"
        nodes.append({"id": node_id, "type": "agent", "label": f"Agent {index}", "position": {"x": 200 * index, "y": 0},
                      "config": {"endpoint": "local", "instructions": "Rewrite the text as one short sentence.",
                                 "inputs": [_field("text")], "outputs": [_field("text")],
                                 "params": {"temperature": 0.2, "max_tokens": 60}}})
        edges.append({"id": f"e{index}", "source": previous, "source_port": "text", "target": node_id,
                      "target_port": "text"})
        previous = node_id
    nodes.append({"id": "output", "type": "output", "label": "Output", "position": {"x": 200 * (length + 1), "y": 0},
                  "config": {"fields": [_field("text")]}})
    edges.append({"id": "eout", "source": previous, "source_port": "text", "target": "output", "target_port": "text"})
    return {"schema": 1, "nodes": nodes, "edges": edges}


def _wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("kill", ["whole_worker", "pool_child"])
def test_run_resumes_after_sigkill_without_repeating_finished_steps(
    kill, project, alice, local_endpoint, local_model, settings, tmp_path
):
    settings.STUDIO_RUNS_QUEUE = QUEUE
    settings.STUDIO_RUN_LEASE_SECONDS = int(LEASE_S)
    env = {"STUDIO_RUNS_QUEUE": QUEUE, "STUDIO_RUN_LEASE_SECONDS": LEASE_S}
    worker_a, log_a = start_worker(tmp_path, name=f"victim-{kill}", concurrency=1, queues=QUEUE, env=env)
    survivor = None
    try:
        workflow = Workflow.objects.create(project=project, slug="chain", name="Chain", draft_graph=chain_graph(4))
        run = run_start(workflow=workflow, user=alice, inputs={"text": "The quick brown fox jumps over the dog."})
        _wait_for(lambda: Step.objects.filter(run=run, node_id="a1", status="succeeded").exists(), 240, "step a1")
        finished_before = {
            s.node_id: s.attempt for s in Step.objects.filter(run=run, status="succeeded")
        }
        if kill == "whole_worker":
            os.killpg(worker_a.pid, signal.SIGKILL)
            worker_a.wait(timeout=10)
        else:
            children = _pool_children(worker_a.pid)
            assert children, "the prefork worker has a pool child"
            for pid in children:
                os.kill(pid, signal.SIGKILL)
        if kill == "whole_worker":
            survivor, _ = start_worker(tmp_path, name=f"survivor-{kill}", concurrency=1, queues=QUEUE, env=env)

        def finished() -> Run | None:
            runs_sweep()  # what beat runs every 10 s
            current = Run.objects.get(pk=run.pk)
            return current if current.is_terminal else None

        final = _wait_for(finished, 300, "the run to finish after the kill")
        assert final.status == RunStatus.SUCCEEDED, final.error
        assert final.attempt >= 2
        for node_id, attempt in finished_before.items():
            step = Step.objects.get(run=run, node_id=node_id)
            assert step.attempt == attempt, f"{node_id} ran again"
            if step.node_type == "agent":
                assert Span.objects.filter(run_id=run.pk, node_id=node_id).count() == 1
        assert Step.objects.filter(run=run, status="succeeded").count() == 6
    finally:
        if survivor is not None:
            os.killpg(survivor.pid, signal.SIGTERM)
            stop(survivor)
        if worker_a.poll() is None:
            os.killpg(worker_a.pid, signal.SIGKILL)
            worker_a.wait(timeout=10)
        assert log_a.exists()


def _pool_children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out
