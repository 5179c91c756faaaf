"""Admin console: write-only secrets, API keys shown once, a read-only audit log and read-only spans."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from studio.crypto import secret_create, secret_reveal
from studio.models import ApiKey, AuditEvent, Secret
from traces.models import ModelEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, project):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_superuser("root", "root@example.test", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_a_secret_is_saved_encrypted_and_its_value_is_never_rendered(admin_client, project):
    response = admin_client.post(
        "/admin/studio/secret/add/", {"project": project.pk, "name": "OPENAI_KEY", "value": "sk-test-abcdef123456"}
    )

    assert response.status_code == 302
    secret = Secret.objects.get(name="OPENAI_KEY")
    assert secret_reveal(secret) == "sk-test-abcdef123456"
    change_page = admin_client.get(f"/admin/studio/secret/{secret.pk}/change/").content.decode()
    listing = admin_client.get("/admin/studio/secret/").content.decode()
    for page in (change_page, listing):
        assert "sk-test-abcdef123456" not in page and secret.ciphertext not in page
    assert "OPENAI_KEY" in listing
    event = AuditEvent.objects.get(verb="secret.create")
    assert "sk-test" not in str(event.data)


def test_saving_a_secret_with_a_blank_value_keeps_the_stored_value(admin_client, project):
    secret = secret_create(project=project, name="TOKEN", value="keep-me-please")

    response = admin_client.post(
        f"/admin/studio/secret/{secret.pk}/change/", {"project": project.pk, "name": "TOKEN_RENAMED", "value": ""}
    )

    assert response.status_code == 302
    secret.refresh_from_db()
    assert secret.name == "TOKEN_RENAMED" and secret_reveal(secret) == "keep-me-please"


def test_a_new_secret_needs_a_value(admin_client, project):
    response = admin_client.post("/admin/studio/secret/add/", {"project": project.pk, "name": "EMPTY", "value": ""})

    assert response.status_code == 200 and not Secret.objects.exists()


def test_a_new_api_key_is_shown_once_and_stored_hashed(admin_client, project):
    user = get_user_model().objects.get(username="root")

    response = admin_client.post(
        "/admin/studio/apikey/add/",
        {"project": project.pk, "name": "ci", "role": "runner", "user": user.pk},
        follow=True,
    )

    raw_keys = re.findall(r"sk_[A-Za-z0-9_\-]{40}", response.content.decode())
    assert len(raw_keys) == 1
    key = ApiKey.objects.get(name="ci")
    assert key.hashed_key == ApiKey.hash(raw_keys[0]) and raw_keys[0].startswith(key.prefix)
    listing = admin_client.get("/admin/studio/apikey/").content.decode()
    assert raw_keys[0] not in listing and key.prefix in listing


def test_the_audit_log_cannot_be_added_changed_or_deleted(admin_client, project):
    event = AuditEvent.objects.create(project=project, verb="run.start")

    assert admin_client.get("/admin/studio/auditevent/").status_code == 200
    assert admin_client.get("/admin/studio/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/studio/auditevent/{event.pk}/change/", {"verb": "x"}).status_code == 403
    assert admin_client.post(f"/admin/studio/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).verb == "run.start"


def test_an_endpoint_cannot_use_another_projects_secret(admin_client, project):
    from tests.conftest import ProjectFactory

    foreign = secret_create(project=ProjectFactory(slug="foreign"), name="KEY", value="foreign-value")

    response = admin_client.post(
        "/admin/traces/modelendpoint/add/",
        {
            "project": project.pk,
            "name": "GPT",
            "slug": "gpt",
            "model": "openai/gpt-4o-mini",
            "api_key_secret": foreign.pk,
            "structured_output": "json_schema",
            "context_window": 8192,
            "timeout_s": 60,
            "is_active": "on",
        },
    )

    assert response.status_code == 200 and not ModelEndpoint.objects.filter(slug="gpt").exists()


def test_spans_and_traces_are_read_only(admin_client):
    assert admin_client.get("/admin/traces/span/").status_code == 200
    assert admin_client.get("/admin/traces/span/add/").status_code == 403
    assert admin_client.get("/admin/traces/trace/add/").status_code == 403


@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_the_test_connection_action_reports_the_local_model(admin_client, endpoint):
    response = admin_client.post(
        "/admin/traces/modelendpoint/",
        {"action": "test_connection", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    assert "answered in" in response.content.decode()
