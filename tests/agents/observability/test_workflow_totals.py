"""Per-workflow totals this month: on the workflow page and in the project's workflow list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunStatus, Workflow
from agents.observability.usage import month_start, workflow_month_totals
from tests.agents.observability.helpers import make_run


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_month_totals_count_this_months_runs_only(research: Workflow, alice: Any) -> None:
    make_run(research, alice, cost="0.25")
    make_run(research, alice, status=RunStatus.FAILED, cost="0.5")
    make_run(research, alice, at=month_start() - dt.timedelta(hours=1), cost="9")  # last month
    totals = workflow_month_totals(workflow_ids=[research.pk])[research.pk]
    assert (totals["runs"], totals["failed"], totals["error_rate"]) == (2, 1, 0.5)
    assert totals["cost_text"] == "$0.750"


def test_workflow_page_and_list_show_the_month(research: Workflow, alice: Any) -> None:
    make_run(research, alice, cost="0.25")
    unknown = make_run(research, alice, status=RunStatus.FAILED, cost="0.5")
    Run.objects.filter(pk=unknown.pk).update(cost_unknown=True)
    client = _client(alice)
    page = client.get(reverse("workflow-detail", args=["acme", "research-brief"])).content.decode()
    assert "Cost this month" in page and "≥ $0.750" in page and "1 run with an unknown price" in page
    assert "50 %" in page and "?workflow=research-brief" in page
    listing = client.get(reverse("project-home", args=["acme"])).content.decode()
    assert "Runs (month)" in listing and "≥ $0.750" in listing and "50 %" in listing


def test_a_workflow_never_run_shows_zero(research: Workflow, alice: Any) -> None:
    assert workflow_month_totals(workflow_ids=[research.pk], now=timezone.now()) == {}
    page = _client(alice).get(reverse("workflow-detail", args=["acme", "research-brief"])).content.decode()
    assert "Cost this month" in page and "$0.00" in page
