"""An admin sets a monthly budget in the project settings; past a threshold the project's pages show the
banner, and with the stop on the workflow page refuses a run with the reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from tests.conftest import demo_graph
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_budget_settings_banner_and_hard_stop(page, live_asgi_server, project, alice, local_endpoint):
    workflow = Workflow.objects.create(project=project, slug="question-answering", name="Question answering",
                                       draft_graph=demo_graph("question-answering"))
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=RunStatus.SUCCEEDED,
                       cost_usd=Decimal("4.50"), created_by=alice)
    base = live_asgi_server
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/p/acme/**")

    page.goto(f"{base}/p/acme/settings/")
    page.fill("#f-bmonth", "5")
    page.fill("#f-bwarn", "50, 80")
    page.check("input[name=budget_hard_stop]")
    screenshot(page, "budget-settings")
    page.click("form.settings-card button[type=submit]")
    page.get_by_text("Project settings saved.").wait_for()
    project.refresh_from_db()
    assert (project.budget_monthly_usd, project.budget_warn_at, project.budget_hard_stop) == (Decimal("5.00"), "50,80", True)

    page.goto(f"{base}/p/acme/")
    banner = page.locator("#budget-banner")
    assert "90 % of this month's budget is spent" in banner.inner_text()
    assert "RUNS (MONTH)" in page.locator(".table--workflows").inner_text().upper()
    screenshot(page, "budget-banner")

    Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=RunStatus.SUCCEEDED,
                       cost_usd=Decimal("1.00"), created_by=alice)
    page.goto(f"{base}/p/acme/w/question-answering/")
    page.fill('textarea[name="input-question"]', "Why?")
    page.click("form[id^=run-form] button[type=submit]")
    page.get_by_text("monthly budget of $5.00 is spent").wait_for()
    assert Run.objects.count() == 2  # nothing started
    screenshot(page, "budget-stop")
