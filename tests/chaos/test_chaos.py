"""Chaos: 200 runs of a 5-node workflow while random workers are SIGKILLed for 60 s (``make chaos``).

Every run ends in exactly one terminal state, no side effect is applied
twice (counted by a local HTTP sink the ``http`` node calls), and model
calls are repeated at most once per kill. The scenario, its knobs
(``STUDIO_CHAOS_RUNS``, ``STUDIO_CHAOS_KILL_S``, ``STUDIO_CHAOS_LEASE_S``,
``STUDIO_CHAOS_SWEEP_S``, ``STUDIO_CHAOS_MODEL=local``, ``STUDIO_CHAOS_SEED``)
and its checks live in :mod:`bench.chaos`, which ``make bench`` also runs
(at the production 30 s lease and 10 s sweep) for the resume-latency numbers.
"""

from __future__ import annotations

import json
import os

import pytest

from bench.chaos import ChaosConfig, run_scenario
from tests.fixtures.services import _test_env

pytestmark = [pytest.mark.chaos, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUEUE = os.environ["STUDIO_RUNS_QUEUE"] + "-chaos"


@pytest.fixture(autouse=True)
def _only_when_asked_for(request):
    """Minutes long: it runs only when selected by marker (``make chaos``: ``pytest -m chaos``)."""
    if "chaos" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a long failure-injection test: run it with `make chaos`")


def test_runs_survive_sigkilled_workers_without_duplicate_effects(project, settings, tmp_path):
    settings.STUDIO_RUNS_QUEUE = QUEUE
    project.max_running_runs = 100  # the project cap must not hold runs back: killed runs count as running
    project.save(update_fields=["max_running_runs"])
    config = ChaosConfig.from_env()

    report = run_scenario(project=project, queue=QUEUE, worker_env=_test_env(), log_dir=tmp_path / "workers",
                          config=config)

    summary = report.summary()
    print("chaos summary:", json.dumps(summary, indent=2))
    assert len(report.run_ids) == config.runs
    assert report.kills, "the killer killed no worker"
    assert summary["resume_p50_s"] is not None, "no kill interrupted a run: nothing was tested"
    assert report.problems() == []
    assert summary["statuses"].get("succeeded", 0) >= 0.9 * config.runs
