"""Issue 8's promotion in queue mode, in Chromium: the demo's research-brief runs on the session's Celery
worker with its writer on ``brief-writer@production`` (v2); a person commits v3 in the editor, promotes it
through the confirmation page, runs research-brief again from its page, and the same worker process (never
restarted) records v3 on the writer's span."""

from __future__ import annotations

import time

import pytest

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from prompts.models import PromptLabel
from tests.conftest import demo_graph
from tests.e2e.test_prompts import log_in, type_in_message
from tests.fixtures.browser import screenshot, wait_js
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker, pytest.mark.model]


def _run_from_page(page, base: str, workflow: Workflow, topic: str) -> Run:
    """Start research-brief from its page and wait (polling the database) until the run ends."""
    before = set(Run.objects.filter(workflow=workflow).values_list("pk", flat=True))
    page.goto(f"{base}/p/acme/w/research-brief/")
    page.fill('textarea[name="input-topic"]', topic)
    page.click("form[id^=run-form] button[type=submit]")
    page.wait_for_url(f"{base}/runs/**")
    run = Run.objects.filter(workflow=workflow).exclude(pk__in=before).get()
    deadline = time.monotonic() + 1500
    while not run.is_terminal and time.monotonic() < deadline:
        time.sleep(1)
        run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def test_promoted_version_reaches_the_running_worker_from_the_browser(
    page, live_asgi_server, project, alice, local_endpoint, seeded_prompt, local_model, celery_worker_proc
):
    workflow = Workflow.objects.create(
        project=project, slug="research-brief", name="Research brief", draft_graph=demo_graph("research-brief")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    worker_pid = celery_worker_proc.pid
    base = live_asgi_server
    log_in(page, base, "alice")
    v2 = seeded_prompt.versions.get(version=2)

    first = _run_from_page(page, base, workflow, "Ocean tides")
    assert Span.objects.get(run_id=first.pk, node_id="writer").prompt_version_id == v2.pk

    # v3 in the editor, from v2: a new system message, same variables.
    page.goto(f"{base}/p/acme/prompts/brief-writer/new/?from=2")
    wait_js(page, "document.querySelectorAll('.message-row .CodeMirror').length === 2")
    type_in_message(page, 0, "You write research briefs of three sentences for executives.")
    page.fill("#v-message", "Three sentences")
    page.click("#commit-version")
    page.wait_for_url(f"{base}/p/acme/prompts/brief-writer/v/3/")
    v3 = seeded_prompt.versions.get(version=3)
    assert v3.messages[0]["content"] == "You write research briefs of three sentences for executives."

    # Promote v3 to production through the confirmation page (diff from v2).
    page.goto(f"{base}/p/acme/prompts/brief-writer/")
    page.select_option("select[aria-label='Version for production']", "3")
    page.click("#label-production button:has-text('Promote')")
    page.wait_for_url(f"{base}/p/acme/prompts/brief-writer/promote/?*")
    assert "from v2 to v3" in page.inner_text("h1")
    assert page.locator("#promote-diff ins", has_text="executives").count() >= 1
    page.click("#promote-confirm button[type=submit]")
    page.wait_for_url(f"{base}/p/acme/prompts/brief-writer/")
    assert PromptLabel.objects.get(prompt=seeded_prompt, name="production").version_id == v3.pk

    # The same worker, never restarted, runs the writer on v3.
    second = _run_from_page(page, base, workflow, "Ocean tides")
    writer = Span.objects.get(run_id=second.pk, node_id="writer")
    assert writer.prompt_version_id == v3.pk
    assert "executives" in str(writer.input)
    assert celery_worker_proc.poll() is None and celery_worker_proc.pid == worker_pid

    # The prompt's usage page counts one writer call for each version.
    page.goto(f"{base}/p/acme/prompts/brief-writer/usage/")
    assert page.inner_text("#metrics-v3 td:nth-child(2)").strip() == "1"
    assert page.inner_text("#metrics-v2 td:nth-child(2)").strip() == "1"
    screenshot(page, "prompt-promotion-queue-usage")
