"""The project's Runs page (/p/<project>/runs/) with its filters, and "All projects" with one project."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def runs(project: Any, alice: Any, bob: Any) -> dict[str, Run]:
    qa = Workflow.objects.create(project=project, slug="qa", name="Q&A", draft_graph=demo_graph("question-answering"))
    brief = Workflow.objects.create(
        project=project, slug="brief", name="Brief", draft_graph=demo_graph("research-brief")
    )
    v1 = WorkflowVersion.objects.create(workflow=qa, version=1, graph=qa.draft_graph)

    def run(workflow: Workflow, status: str, cost: str, user: Any, days_ago: int = 0, **kw: Any) -> Run:
        created = Run.objects.create(
            project=project,
            workflow=workflow,
            graph=workflow.draft_graph,
            status=status,
            cost_usd=Decimal(cost),
            created_by=user,
            **kw,
        )
        Run.objects.filter(pk=created.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
        return created

    old = run(qa, RunStatus.SUCCEEDED, "0.5", alice, days_ago=10, version=v1)
    return {
        "old": old,
        "failed": run(brief, RunStatus.FAILED, "0.02", alice, error_code="unreachable"),
        "bob": run(qa, RunStatus.SUCCEEDED, "0.001", bob),
        "rerun": run(qa, RunStatus.SUCCEEDED, "0", alice, parent_run=old, rerun_from_node="answerer"),
    }


def shown(response: Any) -> set[int]:
    html = response.content.decode()
    return {pk for pk in range(1, 10_000) if f'data-run="{pk}"' in html}


def page(client: Client, **params: str) -> Any:
    response = client.get(reverse("project-runs", args=["acme"]), params)
    assert response.status_code == 200
    return response


def test_every_run_of_the_project_newest_first_with_reruns_marked(runs: dict[str, Run], alice: Any) -> None:
    response = page(client_for(alice))
    assert shown(response) == {r.pk for r in runs.values()}
    html = response.content.decode()
    assert html.index(f'data-run="{runs["rerun"].pk}"') < html.index(f'data-run="{runs["old"].pk}"')
    assert f"Rerun of run #{runs['old'].pk} from answerer" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "failed"}, {"failed"}),
        ({"workflow": "brief"}, {"failed"}),
        ({"version": "1"}, {"old"}),
        ({"version": "draft"}, {"failed", "bob", "rerun"}),
        ({"user": "bob"}, {"bob"}),
        ({"cost_min": "0.01"}, {"old", "failed"}),
        ({"cost_max": "0.01"}, {"bob", "rerun"}),
        ({"since": (timezone.now() - dt.timedelta(days=2)).date().isoformat()}, {"failed", "bob", "rerun"}),
        ({"until": (timezone.now() - dt.timedelta(days=5)).date().isoformat()}, {"old"}),
    ],
)
def test_filters(runs: dict[str, Run], alice: Any, params: dict[str, str], expected: set[str]) -> None:
    assert shown(page(client_for(alice), **params)) == {runs[name].pk for name in expected}


def test_a_bad_filter_is_shown_and_not_applied(runs: dict[str, Run], alice: Any) -> None:
    response = page(client_for(alice), cost_max="abc", version="v2", status="failed")
    html = response.content.decode()
    assert "Enter a number." in html and "A number, or “draft”." in html
    assert shown(response) == {runs["failed"].pk}


def test_no_match_says_so_and_outsiders_get_nothing(runs: dict[str, Run], alice: Any, charlie: Any) -> None:
    assert "No run matches these filters" in page(client_for(alice), user="nobody").content.decode()
    assert client_for(charlie).get(reverse("project-runs", args=["acme"])).status_code == 404


def test_sidebar_links_the_runs_page_and_all_projects_lists_a_single_project(runs: Any, alice: Any) -> None:
    client = client_for(alice)
    html = client.get(reverse("project-home", args=["acme"])).content.decode()
    assert f'href="{reverse("project-runs", args=["acme"])}"' in html
    assert client.get(reverse("home"))["Location"] == reverse("project-home", args=["acme"])  # landing: straight in
    listing = client.get(reverse("home") + "?all=1")
    assert listing.status_code == 200 and reverse("project-home", args=["acme"]) in listing.content.decode()
