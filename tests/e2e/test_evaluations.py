"""A builder uploads a CSV dataset, builds a suite with a contains check, runs it on the draft, reads the
grid, and sees a failing case block publishing — in Chromium, on a real worker and the local model."""

from __future__ import annotations

import pytest

from agents.evaluations.models import SuiteRun, SuiteRunStatus
from agents.models import Workflow
from tests.conftest import demo_graph
from tests.fixtures.browser import screenshot, wait_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker, pytest.mark.model]


def _run_suite_and_wait(page, server: str) -> SuiteRun:
    page.click("#btn-run-suite")
    page.wait_for_url(f"{server}/suite-runs/**")
    suite_run = SuiteRun.objects.order_by("-pk").first()
    wait_js(page, "document.querySelector('#suite-run-status').textContent.trim() !== 'running'", timeout=300_000)
    suite_run.refresh_from_db()
    return suite_run


def test_upload_a_dataset_build_a_suite_run_it_and_see_a_failing_case_block_publishing(
    page, live_asgi_server, project, alice, local_endpoint, local_model, celery_worker_proc, tmp_path
):
    server = live_asgi_server
    Workflow.objects.create(
        project=project,
        slug="question-answering",
        name="Question answering",
        draft_graph=demo_graph("question-answering"),
    )
    page.goto(f"{server}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/p/acme/**")

    # A dataset from a CSV file: a column that is not an input is refused, the right file is stored.
    page.goto(f"{server}/p/acme/datasets/")
    page.click("summary:has-text('New dataset')")
    page.fill("#new-dataset-name", "Geography")
    page.select_option("#new-dataset-workflow", "question-answering")
    page.click("details[open] button[type=submit]")
    page.wait_for_url(f"{server}/p/acme/datasets/*/")
    bad = tmp_path / "bad.csv"
    bad.write_text("query,expected.answer\nCapital of France?,Paris\n")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-form button[type=submit]")
    assert "not an input of the signature (question)" in page.locator("#upload-error").inner_text()
    good = tmp_path / "geography.csv"
    good.write_text("question,expected.answer,tags\nWhat is the capital of France?,Paris,geo\n")
    page.set_input_files("#upload-file", str(good))
    page.click("#upload-form button[type=submit]")
    assert "What is the capital of France?" in page.locator("#rows-table").inner_text()
    screenshot(page, "dataset-page")

    # The suite: cases from the dataset, a contains check on the answer against the expected value.
    page.goto(f"{server}/p/acme/w/question-answering/suite/")
    page.click("#from-dataset-form button[type=submit]")
    page.fill("#check-name", "mentions-expected")
    page.select_option("#check-kind", "contains")
    page.fill("#check-field", "answer")
    page.click("#add-check-form button[type=submit]")
    assert "mentions-expected" in page.locator("#checks").inner_text()
    first = _run_suite_and_wait(page, server)
    screenshot(page, "suite-run-grid-passed")
    assert first.status == SuiteRunStatus.PASSED, list(first.results.values("outputs", "checks", "error"))
    assert "pass" in page.locator("#suite-grid").inner_text().lower()

    # A check no answer passes: the case fails, the grid shows the regression, publishing is refused.
    page.goto(f"{server}/p/acme/w/question-answering/suite/")
    page.fill("#check-name", "never")
    page.select_option("#check-kind", "contains")
    page.fill("#check-field", "answer")
    page.fill("#check-value", "zqxj-not-in-any-answer")
    page.click("#add-check-form button[type=submit]")
    second = _run_suite_and_wait(page, server)
    assert second.status == SuiteRunStatus.FAILED
    grid = page.locator("#suite-grid").inner_text()
    assert "regression" in grid and "zqxj-not-in-any-answer" in grid
    screenshot(page, "suite-run-grid-failed")
    page.goto(f"{server}/p/acme/w/question-answering/suite/")
    assert page.locator("#gate-status").get_attribute("data-code") == "suite_failed"
    page.fill("#publish-note", "first")
    page.click("#btn-publish")
    assert "The test suite fails on this draft" in page.locator("#publish-error").inner_text()
    screenshot(page, "suite-page-publish-refused")
    assert not Workflow.objects.get(slug="question-answering").versions.exists()
