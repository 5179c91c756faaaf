"""Deploying published versions: the live version, rollback, history, audit; the invoke API's refusals."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents.deploy.models import Deployment, InvokeRequest
from agents.deploy.selectors import live_version
from agents.models import Run, Workflow, WorkflowVersion
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory, demo_graph

pytestmark = pytest.mark.django_db
INVOKE = "/api/v1/projects/acme/workflows/qa/invoke"


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    for number in (1, 2):
        WorkflowVersion.objects.create(workflow=workflow, version=number, graph=graph)
    return workflow


@pytest.fixture
def editor(project):
    user = UserFactory(username="eddie")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_deploy_makes_a_version_live_and_rollback_keeps_the_history(qa, editor):
    client = api(editor)
    assert live_version(workflow=qa) is None
    response = client.post(f"/api/v1/workflows/{qa.pk}/deploy", {"version": 2}, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert live_version(workflow=qa).version == 2
    assert (
        client.post(f"/api/v1/workflows/{qa.pk}/deploy", {"version": 1, "note": "rollback"}, format="json").status_code
        == 201
    )
    assert live_version(workflow=qa).version == 1
    history = client.get(f"/api/v1/workflows/{qa.pk}/deployments").json()
    assert history["live"] == 1
    assert [d["version"] for d in history["deployments"]] == [1, 2]
    assert history["deployments"][0]["deployed_by"] == "eddie"
    audits = list(AuditEvent.objects.filter(verb="workflow.deploy").order_by("id").values_list("data", flat=True))
    assert audits[0]["version"] == 2 and audits[0]["previous"] is None
    assert audits[1] == {"version": 1, "previous": 2, "rollback": True}


@pytest.mark.parametrize("body", [{"version": 3}, {"version": 0}, {"version": "draft"}, {}])
def test_only_a_published_version_can_be_deployed(qa, editor, body):
    response = api(editor).post(f"/api/v1/workflows/{qa.pk}/deploy", body, format="json")
    assert response.status_code in (400, 404)
    assert response.json()["code"] in ("invalid", "not_found")
    assert Deployment.objects.count() == 0


def test_viewers_cannot_deploy_and_strangers_do_not_see_the_workflow(qa, bob, charlie):
    assert api(bob).post(f"/api/v1/workflows/{qa.pk}/deploy", {"version": 1}, format="json").status_code == 403
    assert api(charlie).post(f"/api/v1/workflows/{qa.pk}/deploy", {"version": 1}, format="json").status_code == 404
    assert api(bob).get(f"/api/v1/workflows/{qa.pk}/deployments").json() == {"live": None, "deployments": []}
    assert Deployment.objects.count() == 0


def test_the_workflow_page_shows_the_live_version_and_deploys(qa, alice):
    client = Client()
    client.force_login(alice)
    page = client.get("/p/acme/w/qa/").content.decode()
    assert "not deployed" in page
    response = client.post("/p/acme/w/qa/deploy/", {"version": "2"})
    assert response.status_code == 302
    page = client.get("/p/acme/w/qa/").content.decode()
    assert "live: v2" in page
    assert "Version 2 is live." in page
    assert client.post("/p/acme/w/qa/deploy/", {"version": "9"}).status_code == 302
    assert live_version(workflow=qa).version == 2


def test_invoke_refuses_a_workflow_that_is_not_deployed(qa, alice):
    response = api(alice).post(INVOKE + "?mode=async", {"inputs": {"question": "Why?"}}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_deployed"
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "body", "headers", "code"),
    [
        ("?mode=async", {"inputs": {}}, {}, "invalid_inputs"),
        ("?mode=async", {"inputs": {"question": 1}}, {}, "invalid_inputs"),
        ("?mode=later", {"inputs": {"question": "Why?"}}, {}, "invalid_mode"),
        ("", {"inputs": {"question": "Why?"}, "wait_s": 100000}, {}, "invalid"),
        ("", {"inputs": {"question": "Why?"}, "wait_s": -1}, {}, "invalid"),
        (
            "?mode=async",
            {"inputs": {"question": "Why?"}},
            {"HTTP_IDEMPOTENCY_KEY": "has space"},
            "invalid_idempotency_key",
        ),
        (
            "?mode=async",
            {"inputs": {"question": "Why?"}},
            {"HTTP_IDEMPOTENCY_KEY": "k" * 256},
            "invalid_idempotency_key",
        ),
    ],
)
def test_bad_invoke_requests_get_a_4xx_and_start_nothing(qa, alice, query, body, headers, code):
    Deployment.objects.create(workflow=qa, version=qa.versions.get(version=1))
    response = api(alice).post(INVOKE + query, body, format="json", **headers)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Run.objects.count() == 0


def test_invoke_runs_the_live_version_and_an_idempotency_key_returns_the_same_run(qa, alice, bob):
    Deployment.objects.create(workflow=qa, version=qa.versions.get(version=1))
    client = api(alice)
    first = client.post(
        INVOKE + "?mode=async", {"inputs": {"question": "Why?"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert first.status_code == 202
    run = Run.objects.get(pk=first.json()["run"])
    assert run.version.version == 1
    assert first["Location"] == f"/api/v1/runs/{run.pk}"
    again = client.post(
        INVOKE + "?mode=async", {"inputs": {"question": "Why?"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert again.status_code == 202
    assert again.json()["run"] == run.pk
    assert again["Idempotent-Replayed"] == "true"
    other = client.post(
        INVOKE + "?mode=async", {"inputs": {"question": "Else?"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert Run.objects.count() == 1
    assert InvokeRequest.objects.get().run == run
    # viewers may read but not invoke
    assert api(bob).post(INVOKE + "?mode=async", {"inputs": {"question": "Why?"}}, format="json").status_code == 403


def test_seed_demo_deploys_the_demo_workflows(db):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)  # idempotent: no second deployment
    for slug in ("question-answering", "research-brief"):
        workflow = Workflow.objects.get(project__slug="demo", slug=slug)
        assert live_version(workflow=workflow).version == 1
        assert workflow.deployments.count() == 1
