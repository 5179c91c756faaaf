"""The admin console is for superusers only, and every change made there is audited.

A staff user who administers project A is refused by the admin login and
redirected away from every admin page (issue 7, item 7); an admin change —
a membership role, endpoint prices, a bulk delete — writes an audit event
(item 9); a workflow's draft is read-only there and an admin save never
overwrites a draft saved meanwhile.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from agents.models import Workflow
from agents.services.workflows import workflow_draft_save
from studio.models import ApiKey, AuditEvent, Membership, Project, Role
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def staff_admin(project: Project) -> Any:
    """Staff, not superuser, admin of the project, with every model permission Django has."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("stella", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def root() -> Any:
    return get_user_model().objects.create_superuser("root", "root@example.test", PASSWORD)


def changelists() -> list[str]:
    return [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry]


def test_a_staff_non_superuser_cannot_log_in_to_the_admin(staff_admin):
    client = Client()

    response = client.post("/admin/login/", {"username": "stella", "password": PASSWORD})

    assert response.status_code == 200 and "site administrator" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_staff_non_superuser_session_is_sent_to_the_login_page_from_every_admin_page(staff_admin, project):
    client = Client()
    client.force_login(staff_admin)
    pages = [
        "/admin/",
        "/admin/studio/",
        *changelists(),
        f"/admin/studio/project/{project.pk}/change/",
        "/admin/studio/secret/add/",
    ]

    assert len(pages) > 20
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), page
        assert client.post(page, {}).status_code == 302, page


def test_a_superuser_still_uses_every_admin_page(root):
    client = Client()
    assert client.post("/admin/login/", {"username": "root", "password": PASSWORD}).status_code == 302

    for page in ["/admin/", *changelists()]:
        assert client.get(page).status_code == 200, page


@pytest.fixture
def root_client(root) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(root)
    return client


def test_an_admin_role_change_is_audited_with_the_actor(root_client, project, bob):
    membership = Membership.objects.get(user=bob)

    response = root_client.post(
        f"/admin/studio/membership/{membership.pk}/change/", {"user": bob.pk, "project": project.pk, "role": "editor"}
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(verb="membership.update")
    assert (event.actor_username, event.project_id, event.object_type, event.object_id) == (
        "root",
        project.pk,
        "studio.membership",
        str(membership.pk),
    )
    assert event.data["via"] == "admin" and event.data["changes"] == [{"changed": {"fields": ["Role"]}}]


def test_an_endpoint_price_change_and_a_bulk_delete_are_audited(root_client, project, local_endpoint, alice):
    from traces.admin import ModelEndpointForm

    initial = ModelEndpointForm(instance=local_endpoint).initial.items()
    data = {name: json.dumps(v) if isinstance(v, dict | list) else v for name, v in initial if v is not None}
    data.update(project=project.pk, input_price_per_mtok="1.5", is_active="on")
    response = root_client.post(f"/admin/traces/modelendpoint/{local_endpoint.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    local_endpoint.refresh_from_db()
    assert local_endpoint.input_price_per_mtok == Decimal("1.5")
    update = AuditEvent.objects.get(verb="modelendpoint.update")
    assert update.project_id == project.pk and update.object_type == "traces.modelendpoint"

    keys = [
        ApiKey.objects.create(
            project=project,
            name=f"k{i}",
            prefix=f"sk_{i}",
            hashed_key=ApiKey.hash(f"k{i}"),
            role=Role.VIEWER,
            user=alice,
        )
        for i in range(2)
    ]
    response = root_client.post(
        "/admin/studio/apikey/", {"action": "delete_selected", "post": "yes", "_selected_action": [k.pk for k in keys]}
    )
    assert response.status_code == 302 and not ApiKey.objects.exists()
    deleted = AuditEvent.objects.filter(verb="apikey.delete").order_by("object_id")
    assert [e.object_id for e in deleted] == sorted(str(k.pk) for k in keys)
    assert all(e.actor_username == "root" and e.project_id == project.pk for e in deleted)


def test_a_workflow_draft_is_read_only_in_the_admin_and_never_overwritten(root_client, project, alice):
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    page = root_client.get(f"/admin/agents/workflow/{workflow.pk}/change/").content.decode()
    assert 'name="draft_graph"' not in page

    stale_admin_form = {
        "slug": "qa",
        "name": "Renamed in admin",
        "description": "",
        "max_concurrency": 4,
        "draft_graph": "{}",
        "versions-TOTAL_FORMS": 0,
        "versions-INITIAL_FORMS": 0,
    }
    edited = demo_graph("research-brief")
    workflow_draft_save(workflow=workflow, user=alice, graph=edited, base_revision=1)  # an editor saves meanwhile
    response = root_client.post(f"/admin/agents/workflow/{workflow.pk}/change/", stale_admin_form)

    assert response.status_code == 302, response.content[:2000]
    workflow.refresh_from_db()
    assert workflow.name == "Renamed in admin" and workflow.draft_revision == 2
    assert {n["id"] for n in workflow.draft_graph["nodes"]} == {n["id"] for n in edited["nodes"]}
    assert AuditEvent.objects.filter(verb="workflow.update", data__via="admin").exists()


def test_an_object_permission_grant_in_the_admin_is_audited(root_client, project, charlie):
    from guardian.shortcuts import get_perms

    from studio.crypto import secret_create

    secret = secret_create(project=project, name="TOKEN", value="never-in-the-log")

    response = root_client.post(
        f"/admin/studio/secret/{secret.pk}/permissions/user-manage/{charlie.pk}/",
        {"permissions": ["view_secret", "use_secret"]},
    )

    assert response.status_code == 302
    assert set(get_perms(charlie, secret)) == {"view_secret", "use_secret"}
    event = AuditEvent.objects.get(verb="secret.permissions")
    assert (event.actor_username, event.project_id, event.object_id) == ("root", project.pk, str(secret.pk))
    assert event.data["user"] == "charlie" and event.data["permissions"] == ["use_secret", "view_secret"]
    assert "never-in-the-log" not in str(event.data)
