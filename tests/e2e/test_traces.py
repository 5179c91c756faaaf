"""A person runs research-brief on the local model, opens its trace from the run page, sees the three
parallel agents and the writer, filters the explorer by endpoint, opens a model call, sees the run's
tokens on the usage chart and in the CSV export."""

from __future__ import annotations

import csv
import json
import time

import pytest

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from tests.conftest import demo_graph
from tests.fixtures.browser import screenshot, wait_js
from traces.models import Span, Trace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker, pytest.mark.model]


def _wait_finished(run: Run, timeout_s: float = 1500) -> Run:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_terminal:
            return run
        time.sleep(1)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout_s} s")


def test_run_research_brief_then_browse_its_trace_and_the_explorer(
    page, live_asgi_server, project, alice, local_endpoint, seeded_prompt, local_model, celery_worker_proc
):
    workflow = Workflow.objects.create(
        project=project, slug="research-brief", name="Research brief", draft_graph=demo_graph("research-brief")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    base = live_asgi_server
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/p/acme/**")

    page.goto(f"{base}/p/acme/w/research-brief/")
    page.fill('textarea[name="input-topic"]', "Ocean tides")
    page.click("form[id^=run-form] button[type=submit]")
    page.wait_for_url(f"{base}/runs/**")
    run = _wait_finished(Run.objects.get(workflow=workflow))
    assert run.status == RunStatus.SUCCEEDED, run.error

    page.reload()
    page.click("#run-trace-link")
    page.wait_for_url(f"{base}/p/acme/traces/{run.pk}/")
    tree = page.locator(".tree")
    for label in ("Facts", "Risks", "Open questions", "Writer"):
        assert tree.get_by_text(label, exact=False).count() >= 1, label
    assert page.locator(".chip--parallel").count() >= 3  # the three agents overlap in time
    screenshot(page, "trace-tree")

    # open the writer's model call in the side panel (htmx), keyboard focus follows
    page.locator(".tree__item--step", has_text="Writer").locator("a[data-tree-link]").nth(1).click()
    page.locator("#trace-panel .span-panel").wait_for()
    panel = page.locator("#trace-panel")
    assert "Conversation" in panel.inner_text() and "openai/smollm2" in panel.inner_text()
    assert panel.locator(".chat__msg").count() >= 2
    assert "Brief writer v2" in panel.inner_text()  # the prompt version the writer used
    screenshot(page, "trace-span-panel")

    # the explorer, filtered by endpoint
    page.click("a.nav-item:has-text('Traces')")
    page.wait_for_url(f"{base}/p/acme/traces/")
    page.fill("#f-endpoint", "local")
    page.click("#trace-filters button[type=submit]")
    page.wait_for_url("**endpoint=local**")
    rows = page.locator("#trace-rows tr")
    rows.first.wait_for()
    assert rows.count() == 1 and f"#{run.pk}" in rows.first.inner_text()
    screenshot(page, "trace-explorer")
    page.fill("#f-endpoint", "no-such-endpoint")
    page.click("#trace-filters button[type=submit]")
    page.get_by_text("No runs match these filters").wait_for()

    # usage: the chart shows the run's tokens today; the CSV export holds its model calls
    spans = Span.objects.filter(run_id=run.pk)
    tokens_in = sum(s.input_tokens for s in spans)
    tokens_out = sum(s.output_tokens for s in spans)
    page.click("a.nav-item:has-text('Usage')")
    page.wait_for_url(f"{base}/p/acme/usage/")
    wait_js(page, "document.getElementById('usage-chart').dataset.ready === '30'")
    chart = json.loads(page.locator("#usage-chart-data").text_content())
    assert chart["input_tokens"][-1] == tokens_in and chart["output_tokens"][-1] == tokens_out
    assert page.locator("#usage-tokens").inner_text() == f"{tokens_in + tokens_out:,}"
    assert "Research brief" in page.locator(".usage-tables").inner_text()
    screenshot(page, "usage")
    with page.expect_download() as download:
        page.click("#usage-export")
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8")))
    local = [r for r in rows if r["endpoint"] == "local"]
    assert len(local) == 1 and int(local[0]["input_tokens"]) == tokens_in
    assert int(local[0]["calls"]) == spans.count() and local[0]["unknown_price_calls"] == "0"


@pytest.mark.django_db(transaction=True)
def test_external_trace_in_the_explorer_and_its_span_tree(page, live_asgi_server, project, alice):
    import datetime as dt

    from django.utils import timezone

    from traces.models import TraceSource

    now = timezone.now()
    trace = Trace.objects.create(project=project, source=TraceSource.EXTERNAL, name="checkout", service_name="shop",
                                 status="ok", started_at=now)
    Span.objects.create(trace=trace, project=project, otel_span_id="a" * 16, kind="invoke_agent", name="agent",
                        started_at=now, ended_at=now + dt.timedelta(seconds=1))
    chat = Span.objects.create(trace=trace, project=project, otel_span_id="b" * 16, otel_parent_span_id="a" * 16,
                               kind="chat", name="chat", model="gpt-4o", input_tokens=12, output_tokens=3,
                               input={"messages": [{"role": "user", "content": "Where is my order?"}]},
                               output={"text": "On its way."}, started_at=now + dt.timedelta(milliseconds=200),
                               ended_at=now + dt.timedelta(milliseconds=700))
    base = live_asgi_server
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/p/acme/**")
    page.goto(f"{base}/p/acme/traces/")
    page.select_option("#f-source", "external")
    page.click("#trace-filters button[type=submit]")
    page.wait_for_url("**source=external**")
    page.click("#trace-rows a.row-link__a")
    page.wait_for_url(f"{base}/p/acme/traces/external/{trace.pk}/")
    page.locator(f"a[href$='/spans/{chat.pk}/']").click()
    page.locator("#trace-panel .span-panel").wait_for()
    assert "Where is my order?" in page.locator("#trace-panel").inner_text()
    screenshot(page, "trace-external")
