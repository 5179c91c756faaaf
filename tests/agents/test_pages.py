"""HTML pages: who sees what (404 for strangers, 403 for viewers acting), the typed
inputs form and its errors (400, never 500), the run page's server-side state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Run, RunEvent, RunStatus, Step, Workflow, WorkflowVersion
from studio.models import Membership, Project, Role
from tests.conftest import demo_graph

TYPED_FIELDS = [
    {"name": "topic", "type": "str", "description": "What to write about"},
    {"name": "count", "type": "int", "required": False, "default": 3},
    {"name": "ratio", "type": "float", "required": False},
    {"name": "tags", "type": "list", "items": "int", "required": False},
    {"name": "meta", "type": "object", "required": False},
    {"name": "tone", "type": "enum", "choices": ["warm", "dry"], "required": False, "default": "warm"},
    {"name": "loud", "type": "bool", "required": False, "default": False},
]


def typed_graph() -> dict[str, Any]:
    return {
        "schema": 1,
        "nodes": [
            {"id": "in", "type": "input", "label": "In", "position": {"x": 0, "y": 0}, "config": {"fields": TYPED_FIELDS}},
            {"id": "out", "type": "output", "label": "Out", "position": {"x": 300, "y": 0},
             "config": {"fields": [{"name": "topic", "type": "str"}]}},
        ],
        "edges": [{"id": "e1", "source": "in", "source_port": "topic", "target": "out", "target_port": "topic"}],
    }


@pytest.fixture
def qa(project: Project) -> Workflow:
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", description="Answers questions.", draft_graph=demo_graph("question-answering")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    return workflow


@pytest.fixture
def typed(project: Project) -> Workflow:
    return Workflow.objects.create(project=project, slug="typed", name="Typed", draft_graph=typed_graph())


@pytest.fixture
def finished_run(qa: Workflow, alice: Any) -> Run:
    run = Run.objects.create(
        project=qa.project, workflow=qa, version=qa.versions.get(), graph=qa.draft_graph, status=RunStatus.SUCCEEDED,
        inputs={"question": "Why is the sky blue?"}, outputs={"answer": "Rayleigh <scattering>", "confidence": 0.9},
        input_tokens=1200, output_tokens=34, cost_usd=Decimal("0.0042"), created_by=alice,
    )
    Step.objects.create(run=run, node_id="answerer", node_type="agent", label="Answerer", status="succeeded",
                        inputs={"question": "Why is the sky blue?"}, outputs={"answer": "Rayleigh <scattering>"},
                        input_tokens=1200, output_tokens=34, cost_usd=Decimal("0.0042"), duration_ms=812)
    for seq, kind in enumerate(["run.queued", "run.started", "step.started", "step.finished", "run.finished"], 1):
        RunEvent.objects.create(run=run, seq=seq, type=kind, payload={})
    return run


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_urls(run: Run) -> list[str]:
    return [
        reverse("project-home", args=["acme"]),
        reverse("workflow-detail", args=["acme", "qa"]),
        reverse("run-detail", args=[run.pk]),
    ]


def test_pages_render_for_the_owner(alice: Any, finished_run: Run) -> None:
    client = client_for(alice)
    project_page = client.get(reverse("project-home", args=["acme"]))
    assert project_page.status_code == 200
    assert b"QA" in project_page.content and f"#{finished_run.pk}".encode() in project_page.content
    workflow_page = client.get(reverse("workflow-detail", args=["acme", "qa"]))
    assert workflow_page.status_code == 200
    assert b'name="input-question"' in workflow_page.content
    assert b'id="node-status-answerer"' in workflow_page.content
    run_page = client.get(reverse("run-detail", args=[finished_run.pk]))
    assert run_page.status_code == 200
    html = run_page.content.decode()
    assert 'id="step-card-answerer"' in html and 'id="run-header-' in html and 'id="run-outputs-' in html
    assert "Rayleigh &lt;scattering&gt;" in html  # outputs are escaped
    assert "1,234" in html and "$0.0042" in html  # tokens and cost in the header
    assert 'data-seq="5"' in html  # the cursor the websocket resumes from
    assert "ws-connect" not in html  # a finished run needs no socket


def test_home_redirects_to_the_only_project(alice: Any, project: Project) -> None:
    response = client_for(alice).get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("project-home", args=["acme"])


def test_home_lists_projects_when_there_are_several(alice: Any, project: Project) -> None:
    other = Project.objects.create(slug="lab", name="Lab")
    Membership.objects.create(project=other, user=alice, role=Role.VIEWER)
    response = client_for(alice).get(reverse("home"))
    assert response.status_code == 200
    assert b"Acme" in response.content and b"Lab" in response.content


def test_pages_need_a_login(finished_run: Run) -> None:
    for url in [reverse("home"), *page_urls(finished_run)]:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_stranger_gets_404_on_every_page(charlie: Any, finished_run: Run) -> None:
    client = client_for(charlie)
    for url in page_urls(finished_run):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("workflow-run", args=["acme", "qa"]), {"input-question": "hi"}).status_code == 404
    assert client.post(reverse("run-cancel", args=[finished_run.pk])).status_code == 404


def test_viewer_sees_pages_but_gets_403_on_run_and_cancel(bob: Any, finished_run: Run) -> None:
    client = client_for(bob)
    for url in page_urls(finished_run):
        assert client.get(url).status_code == 200, url
    workflow_page = client.get(reverse("workflow-detail", args=["acme", "qa"])).content.decode()
    assert "can view this workflow but not run it" in workflow_page
    assert client.post(reverse("workflow-run", args=["acme", "qa"]), {"input-question": "hi"}).status_code == 403
    assert client.post(reverse("run-cancel", args=[finished_run.pk])).status_code == 403
    assert Run.objects.count() == 1


def test_run_button_starts_a_run_and_redirects_to_it(alice: Any, qa: Workflow) -> None:
    response = client_for(alice).post(reverse("workflow-run", args=["acme", "qa"]), {"input-question": "Why?"})
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("run-detail", args=[run.pk])
    assert run.inputs == {"question": "Why?"} and run.version == qa.versions.get()


def test_htmx_run_redirects_the_client(alice: Any, qa: Workflow) -> None:
    response = client_for(alice).post(
        reverse("workflow-run", args=["acme", "qa"]), {"input-question": "Why?"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("run-detail", args=[Run.objects.get().pk])


def test_typed_inputs_are_converted_from_the_form(alice: Any, typed: Workflow) -> None:
    data = {"input-topic": "tea", "input-count": "5", "input-tags": "[1, 2]", "input-meta": '{"a": 1}',
            "input-tone": "dry", "input-loud": "on", "input-ratio": ""}
    response = client_for(alice).post(reverse("workflow-run", args=["acme", "typed"]), data)
    assert response.status_code == 302
    inputs = Run.objects.get().inputs
    assert inputs["topic"] == "tea" and inputs["count"] == 5 and inputs["tags"] == [1, 2]
    assert inputs["meta"] == {"a": 1} and inputs["tone"] == "dry" and inputs["loud"] is True


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "topic", "This field is required."),
        ({"input-topic": "tea", "input-count": "many"}, "count", "Enter a whole number."),
        ({"input-topic": "tea", "input-meta": "{oops"}, "meta", "Not valid JSON"),
        ({"input-topic": "tea", "input-meta": "[1]"}, "meta", "Enter a JSON object"),
        ({"input-topic": "tea", "input-tags": '{"a": 1}'}, "tags", "Enter a JSON list"),
        ({"input-topic": "tea", "input-tone": "loud"}, "tone", "Select a valid choice."),
        # valid JSON list, wrong item type: refused by the service's signature check
        ({"input-topic": "tea", "input-tags": '["x"]'}, "tags", "valid integer"),
    ],
)
def test_bad_inputs_rerender_the_form_with_a_400(alice: Any, typed: Workflow, data: dict[str, str], field: str,
                                                 message: str) -> None:
    response = client_for(alice).post(reverse("workflow-run", args=["acme", "typed"]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'name="input-{field}"' in html and "has-error" in html
    assert Run.objects.count() == 0


def test_htmx_bad_input_gets_only_the_form_fragment(alice: Any, typed: Workflow) -> None:
    response = client_for(alice).post(
        reverse("workflow-run", args=["acme", "typed"]), {"input-count": "x"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith(f'<form id="run-form-{typed.pk}"')
    assert "<html" not in html


def test_invalid_graph_is_a_400_naming_the_problem(alice: Any, project: Project) -> None:
    graph = demo_graph("question-answering")
    graph["edges"] = [e for e in graph["edges"] if e["target"] != "answerer"]
    Workflow.objects.create(project=project, slug="broken", name="Broken", draft_graph=graph)
    response = client_for(alice).post(reverse("workflow-run", args=["acme", "broken"]), {"input-question": "hi"})
    assert response.status_code == 400
    assert b"could not start" in response.content and b"answerer" in response.content
    assert Run.objects.count() == 0


def test_unreadable_draft_shows_the_page_not_a_500(alice: Any, project: Project) -> None:
    graph = {"schema": 1, "nodes": [{"id": "in", "type": "input", "config": {"fields": [{"name": "1bad"}]}}], "edges": []}
    Workflow.objects.create(project=project, slug="wip", name="WIP", draft_graph=graph)
    response = client_for(alice).get(reverse("workflow-detail", args=["acme", "wip"]))
    assert response.status_code == 200
    assert b"cannot run yet" in response.content


def test_running_run_page_connects_the_socket_after_its_last_event(alice: Any, qa: Workflow) -> None:
    run = Run.objects.create(project=qa.project, workflow=qa, graph=qa.draft_graph, status=RunStatus.RUNNING)
    Step.objects.create(run=run, node_id="answerer", node_type="agent", label="Answerer", status="running")
    for seq in (1, 2, 3):
        RunEvent.objects.create(run=run, seq=seq, type="run.started", payload={})
    html = client_for(alice).get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'ws-connect="/ws/runs/{run.pk}/?after=3"' in html
    assert 'id="step-stream-answerer"' in html  # streamed text lands here
    assert f'id="run-actions-{run.pk}"' in html and "Cancel run" in html


def test_owner_cancels_a_queued_run(alice: Any, qa: Workflow) -> None:
    run = Run.objects.create(project=qa.project, workflow=qa, graph=qa.draft_graph, status=RunStatus.QUEUED)
    response = client_for(alice).post(reverse("run-cancel", args=[run.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_cancelling_a_finished_run_is_a_message_not_an_error(alice: Any, finished_run: Run) -> None:
    response = client_for(alice).post(reverse("run-cancel", args=[finished_run.pk]), follow=True)
    assert response.status_code == 200
    assert b"was not cancelled" in response.content


def test_run_table_fragment_for_htmx_polling(alice: Any, finished_run: Run) -> None:
    response = client_for(alice).get(reverse("project-home", args=["acme"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-table-project-')
    assert f"#{finished_run.pk}" in html
