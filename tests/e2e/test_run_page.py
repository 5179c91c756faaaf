"""A person logs in, runs "Question answering" from its page and sees the answer appear without a reload."""

from __future__ import annotations

import pytest

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from tests.conftest import demo_graph
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker, pytest.mark.model]


def test_log_in_run_question_answering_and_watch_the_answer_arrive_live(
    page, live_asgi_server, project, alice, local_endpoint, local_model, celery_worker_proc
):
    workflow = Workflow.objects.create(project=project, slug="question-answering", name="Question answering",
                                       draft_graph=demo_graph("question-answering"))
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph, note="first")

    page.goto(f"{live_asgi_server}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_asgi_server}/p/acme/**")
    screenshot(page, "project-home")

    page.goto(f"{live_asgi_server}/p/acme/w/question-answering/")
    page.fill('textarea[name="input-question"]', "What is the capital of France?")
    screenshot(page, "workflow-page")
    page.click("form[id^=run-form] button[type=submit]")
    page.wait_for_url(f"{live_asgi_server}/runs/**")
    page.evaluate("window.__noReload = true")  # gone if the page reloads

    run = Run.objects.get(workflow=workflow)
    outputs = page.locator(f"#run-outputs-{run.pk} [data-output=answer]")
    try:
        outputs.wait_for(timeout=240_000)
    finally:
        screenshot(page, "run-page")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert page.evaluate("window.__noReload") is True
    assert run.outputs["answer"].strip()[:20] in outputs.inner_text()
    step_badge = page.locator("[id^=node-status-answerer]")
    assert "succeeded" in (step_badge.first.get_attribute("class") or "") + step_badge.first.inner_text().lower()
    screenshot(page, "run-page-finished")
