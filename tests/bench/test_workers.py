"""The worker-memory benchmark runs end to end at a small count and produces its entry (no figure is asserted)."""

from __future__ import annotations

import math
import uuid

import pytest

from bench.common import Fixture
from bench.workers import bench_worker_rss
from tests.fixtures.services import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_worker_rss_benchmark_produces_its_entry(tmp_path):
    queue = f"runs-rss-{uuid.uuid4().hex[:6]}"
    fx = Fixture(project_slug="bench-rss")
    try:
        result = bench_worker_rss(
            fx,
            runs=40,
            warmup=10,
            batch=20,
            queue=queue,
            start_worker=lambda q: start_worker(tmp_path, name="rssworker", queues=q),
        )
    finally:
        fx.close()

    assert result["name"] == "worker_rss_growth_pct" and result["unit"] == "%"
    assert result["runs"] == 40 and result["n"] == 1
    assert result["rss_after_warmup_kb"] > 0 and result["rss_after_runs_kb"] > 0
    assert math.isfinite(result["p50"])
