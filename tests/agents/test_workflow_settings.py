"""Workflow settings from the app: rename and budgets (bad values refused), duplicate, delete with runs kept
or deleted, "New workflow" needs a name, import from the project page."""

from __future__ import annotations

import html
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.interchange import dump_json, export_document
from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory, demo_graph

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def qa(project) -> Workflow:
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    return workflow


@pytest.fixture
def editor(project):
    user = UserFactory(username="erin")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user


def settings_data(**overrides):
    data = {
        "name": "Answers",
        "description": "Answers questions.",
        "max_concurrency": "2",
        "budget_tokens": "4000",
        "budget_usd": "0.5",
        "timeout_s": "120",
    }
    data.update(overrides)
    return data


def test_editor_renames_and_sets_budgets(qa, editor):
    response = client_for(editor).post(reverse("workflow-settings", args=["acme", "qa"]), settings_data())
    assert response.status_code == 302
    qa.refresh_from_db()
    assert (qa.name, qa.max_concurrency, qa.budget_tokens, qa.budget_usd, qa.timeout_s) == (
        "Answers",
        2,
        4000,
        Decimal("0.5"),
        120,
    )
    assert AuditEvent.objects.filter(verb="workflow.update", actor=editor).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("budget_usd", "1e30"),
        ("budget_usd", "-1"),
        ("max_concurrency", "0"),
        ("timeout_s", "abc"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_nothing_is_saved(qa, editor, field, value):
    response = client_for(editor).post(
        reverse("workflow-settings", args=["acme", "qa"]), settings_data(**{field: value})
    )
    assert response.status_code == 400 and field in response.context["form"].errors
    qa.refresh_from_db()
    assert qa.name == "QA" and qa.budget_usd is None


def test_viewer_cannot_open_settings_or_delete(qa, bob):
    client = client_for(bob)
    assert client.get(reverse("workflow-settings", args=["acme", "qa"])).status_code == 403
    assert client.post(reverse("workflow-delete", args=["acme", "qa"]), {"runs": "delete"}).status_code == 403
    assert Workflow.objects.filter(pk=qa.pk).exists()


def test_editor_duplicates_but_cannot_delete(qa, editor):
    client = client_for(editor)
    response = client.post(reverse("workflow-duplicate", args=["acme", "qa"]), {"name": "QA two"})
    copy = Workflow.objects.get(name="QA two")
    assert response["Location"] == reverse("workflow-detail", args=["acme", copy.slug])
    assert copy.draft_graph == qa.draft_graph and not copy.versions.exists()
    assert client.post(reverse("workflow-delete", args=["acme", "qa"]), {"runs": "keep"}).status_code == 403


def test_delete_keeping_runs_hides_the_workflow_and_keeps_its_runs_readable(qa, alice):
    run = Run.objects.create(project=qa.project, workflow=qa, graph=qa.draft_graph, status=RunStatus.SUCCEEDED)
    client = client_for(alice)
    assert client.post(reverse("workflow-delete", args=["acme", "qa"]), {"runs": "keep"}).status_code == 302
    assert client.get(reverse("workflow-detail", args=["acme", "qa"])).status_code == 404
    assert "QA" not in [w.name for w in client.get(reverse("project-home", args=["acme"])).context["workflows"]]
    assert client.get(reverse("run-detail", args=[run.pk])).status_code == 200
    assert client.get(reverse("api-run-detail", args=[run.pk])).status_code == 200
    rerun = client.post(
        reverse("api-run-rerun", args=[run.pk]), {"node_id": "answerer"}, content_type="application/json"
    )
    assert rerun.status_code == 403 and Run.objects.count() == 1
    event = AuditEvent.objects.get(verb="workflow.delete")
    assert event.data["runs_kept"] is True and event.data["runs"] == 1
    # the slug is free again
    assert Workflow.objects.create(project=qa.project, slug="qa", name="New QA")


def test_delete_with_runs_removes_them(qa, alice):
    Run.objects.create(
        project=qa.project, workflow=qa, version=qa.versions.get(), graph=qa.draft_graph, status=RunStatus.SUCCEEDED
    )
    response = client_for(alice).post(reverse("workflow-delete", args=["acme", "qa"]), {"runs": "delete"})
    assert response.status_code == 302
    assert not Workflow.objects.filter(pk=qa.pk).exists() and not Run.objects.exists()


def test_delete_without_a_choice_deletes_nothing(qa, alice):
    response = client_for(alice).post(reverse("workflow-delete", args=["acme", "qa"]), {})
    assert response.status_code == 302 and Workflow.objects.filter(pk=qa.pk, deleted_at__isnull=True).exists()


def test_new_workflow_needs_a_name(project, alice):
    client = client_for(alice)
    refused = client.post(reverse("workflow-new", args=["acme"]), {"name": "  "})
    assert refused["Location"] == reverse("project-home", args=["acme"]) and not Workflow.objects.exists()
    created = client.post(
        reverse("workflow-new", args=["acme"]), {"name": "Ticket triage", "description": "  Sorts tickets by team.  "}
    )
    assert created["Location"] == reverse("workflow-editor", args=["acme", "ticket-triage"])
    assert Workflow.objects.get(slug="ticket-triage").description == "Sorts tickets by team."


def test_import_from_the_project_page(qa, alice, editor, bob):
    text = dump_json(export_document(qa))
    upload = SimpleUploadedFile("qa.json", text.encode(), content_type="application/json")
    response = client_for(editor).post(reverse("workflow-import-page", args=["acme"]), {"file": upload})
    imported = Workflow.objects.exclude(pk=qa.pk).get()
    assert response["Location"] == reverse("workflow-detail", args=["acme", imported.slug])
    assert imported.draft_graph["nodes"] == json.loads(text)["graph"]["nodes"]
    bad = SimpleUploadedFile("bad.json", b"{not json", content_type="application/json")
    response = client_for(editor).post(reverse("workflow-import-page", args=["acme"]), {"file": bad}, follow=True)
    assert "Not imported" in page_text(response) and Workflow.objects.count() == 2
    viewer_upload = SimpleUploadedFile("qa.json", text.encode())
    assert (
        client_for(bob).post(reverse("workflow-import-page", args=["acme"]), {"file": viewer_upload}).status_code == 403
    )
