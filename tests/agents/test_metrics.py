"""Prometheus /metrics: computed from the database and the shared counters, behind a bearer token."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Run, RunStatus, Step, Workflow
from agents.services.sweeper import LEASE_EXPIRIES, SWEEPER_RECOVERIES, runs_sweep
from studio.lib.counters import counter_values
from tests.conftest import demo_graph
from traces.models import Span, SpanKind
from traces.services import trace_start

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"


def scrape(token: str | None = TOKEN) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", **headers)


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_are_a_404_without_a_token_setting_and_401_with_a_wrong_token(settings):
    settings.STUDIO_METRICS_TOKEN = ""
    assert scrape().status_code == 404
    settings.STUDIO_METRICS_TOKEN = TOKEN
    assert scrape(None).status_code == 401
    assert scrape("wrong").status_code == 401


def test_metrics_count_runs_steps_tokens_cost_and_queue_depth(settings, project, alice, local_endpoint):
    settings.STUDIO_METRICS_TOKEN = TOKEN
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    now = timezone.now()

    def run(status: str) -> Run:
        return Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=status)

    done, failed, _queued = run(RunStatus.SUCCEEDED), run(RunStatus.FAILED), run(RunStatus.QUEUED)
    for ms, node in ((3.0, "a"), (40.0, "b"), (2000.0, "c")):
        Step.objects.create(
            run=done, node_id=node, node_type="llm", status="succeeded", duration_ms=ms, started_at=now, finished_at=now
        )
    trace = trace_start(project_id=project.pk, run_id=done.pk)
    Span.objects.create(
        trace=trace,
        project=project,
        kind=SpanKind.CHAT,
        endpoint=local_endpoint,
        model="m",
        input_tokens=70,
        cache_read_tokens=30,
        output_tokens=20,
        reasoning_tokens=5,
        cost_usd=Decimal("0.25"),
        started_at=now,
    )
    Span.objects.create(
        trace=trace,
        project=project,
        kind=SpanKind.CHAT,
        endpoint=local_endpoint,
        model="m",
        input_tokens=10,
        cost_usd=None,
        started_at=now,
    )

    response = scrape()

    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    got = samples(response.content)
    acme = (("project", "acme"),)
    assert got[("studio_runs_started_total", acme)] == 3
    assert got[("studio_runs_finished_total", (("project", "acme"), ("status", "failed")))] == 1
    assert got[("studio_queue_depth", acme)] == 1
    llm = (("node_type", "llm"),)
    assert got[("studio_step_duration_seconds_count", llm)] == 3
    assert got[("studio_step_duration_seconds_sum", llm)] == pytest.approx(2.043)
    assert got[("studio_step_duration_seconds_bucket", (("le", "0.05"), ("node_type", "llm")))] == 2
    local = (("endpoint", "local"), ("project", "acme"))
    assert got[("studio_tokens_total", (("endpoint", "local"), ("part", "input"), ("project", "acme")))] == 80
    assert got[("studio_tokens_total", (("endpoint", "local"), ("part", "cache_read"), ("project", "acme")))] == 30
    assert got[("studio_tokens_total", (("endpoint", "local"), ("part", "reasoning"), ("project", "acme")))] == 5
    assert got[("studio_cost_usd_total", local)] == 0.25
    assert got[("studio_model_calls_unknown_price_total", local)] == 1
    del failed


def test_the_sweeper_counts_lease_expiries_and_recoveries(settings, project):
    settings.STUDIO_METRICS_TOKEN = TOKEN
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    before = counter_values([LEASE_EXPIRIES, SWEEPER_RECOVERIES])
    Run.objects.create(
        project=project,
        workflow=workflow,
        graph=workflow.draft_graph,
        status=RunStatus.RUNNING,
        lease_expires_at=timezone.now() - dt.timedelta(seconds=5),
    )

    assert runs_sweep() == 1

    after = samples(scrape().content)
    assert after[("studio_lease_expiries_total", ())] == before[LEASE_EXPIRIES] + 1
    assert after[("studio_sweeper_recoveries_total", ())] == before[SWEEPER_RECOVERIES] + 1
