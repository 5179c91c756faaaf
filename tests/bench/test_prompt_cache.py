"""The prompt cache benchmarks run end to end at a small count and produce their entries (no figure is asserted)."""

from __future__ import annotations

import math
import uuid

import pytest

from bench.common import Fixture
from bench.prompt_cache import bench_promotion, bench_resolve
from tests.fixtures.services import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_prompt_cache_benchmarks_produce_their_entries(tmp_path):
    fx = Fixture(project_slug="bench-prompts")
    try:
        resolve = bench_resolve(fx.project, calls=50)
        promotion = bench_promotion(
            fx,
            moves=2,
            queue=f"runs-prompt-{uuid.uuid4().hex[:6]}",
            start_worker=lambda q: start_worker(tmp_path, name="promptworker", queues=q),
        )
    finally:
        fx.close()

    assert [r["name"] for r in resolve] == ["prompt_label_resolve_inprocess_ms", "prompt_label_resolve_redis_ms"]
    assert all(r["n"] == 50 and r["unit"] == "ms" and math.isfinite(r["p50"]) for r in resolve)
    assert promotion["name"] == "prompt_promotion_to_worker_ms" and promotion["n"] == 2
    assert promotion["p50"] > 0
