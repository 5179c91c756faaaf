"""Fair per-project caps, and a run that kills its worker every time is failed, not looped forever."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest

from agents.models import Run, RunStatus, Workflow
from agents.runtime import MAX_ATTEMPTS
from agents.services.runs import run_start, run_wait
from agents.services.sweeper import runs_sweep
from tests.agents.test_durability import _pool_children, chain_graph
from tests.conftest import ProjectFactory, demo_graph
from tests.fixtures.services import start_worker, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


def test_project_cap_makes_runs_wait_their_turn_without_starving_other_projects(
    project, alice, local_endpoint, local_model, celery_worker_proc
):
    from traces.services import endpoint_ensure_local

    project.max_running_runs = 1
    project.save()
    busy = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    other_project = ProjectFactory(slug="other")
    endpoint_ensure_local(project=other_project)
    other = Workflow.objects.create(project=other_project, slug="qa", name="QA",
                                    draft_graph=demo_graph("question-answering"))
    busy_runs = [run_start(workflow=busy, user=alice, inputs={"question": f"Question {i}?"}) for i in range(3)]
    other_run = run_start(workflow=other, user=alice, inputs={"question": "Other?"})

    finished = [run_wait(r.pk, timeout_s=600) for r in [*busy_runs, other_run]]
    # What the small model answers does not matter here; when each run held a worker does.
    assert all(r.is_terminal and r.started_at and r.finished_at for r in finished), [r.error for r in finished]
    busy_done = sorted(finished[:3], key=lambda r: r.started_at)
    for earlier, later in itertools.pairwise(busy_done):
        assert earlier.finished_at <= later.started_at  # never two of the busy project's runs at once
    other_done = finished[3]
    assert other_done.started_at < busy_done[-1].started_at  # the other project did not wait behind the queue


def test_a_run_that_kills_its_worker_every_time_fails_after_bounded_attempts(
    project, alice, local_endpoint, local_model, settings, tmp_path
):
    queue = os.environ["STUDIO_RUNS_QUEUE"] + "-poison"
    settings.STUDIO_RUNS_QUEUE = queue
    settings.STUDIO_RUN_LEASE_SECONDS = 3
    env = {"STUDIO_RUNS_QUEUE": queue, "STUDIO_RUN_LEASE_SECONDS": "3"}
    worker, _ = start_worker(tmp_path, name="poisoned", concurrency=1, queues=queue, env=env)
    try:
        workflow = Workflow.objects.create(project=project, slug="chain", name="Chain", draft_graph=chain_graph(3))
        run = run_start(workflow=workflow, user=alice, inputs={"text": "A poison pill."})
        killed_attempts: set[int] = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            current = Run.objects.get(pk=run.pk)
            if current.is_terminal:
                break
            if current.status == RunStatus.RUNNING and current.attempt not in killed_attempts:
                for pid in _pool_children(worker.pid):  # this run's worker dies, every time
                    os.kill(pid, signal.SIGKILL)
                killed_attempts.add(current.attempt)
            runs_sweep()
            time.sleep(0.2)
        final = Run.objects.get(pk=run.pk)
        assert final.status == RunStatus.FAILED
        assert final.error_code == "worker_lost"
        assert final.attempt == MAX_ATTEMPTS + 1
        assert len(killed_attempts) == MAX_ATTEMPTS
        assert not final.steps.filter(status="running").exists()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        stop(worker)
