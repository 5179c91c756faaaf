"""API keys (shown once, role cap, revocation, expiry) and secrets (never shown, replace, delete when unused)."""

from __future__ import annotations

import datetime
import html

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Workflow
from studio.crypto import secret_reveal
from studio.models import ApiKey, AuditEvent, Secret
from studio.workspace import services as svc
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db
CANARY = "canary-value-7f3a91"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_key_is_shown_once_with_a_curl_line_and_stored_hashed(project, alice, login):
    Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    response = login(alice).post(
        reverse("project-keys", args=["acme"]), {"name": "CI", "role": "runner", "workflow": "qa"}
    )
    assert response.status_code == 200
    raw = response.context["new_raw"]
    key = ApiKey.objects.get(project=project)
    assert key.hashed_key == ApiKey.hash(raw) and raw not in key.prefix + key.hashed_key
    curl = response.context["curl"]
    assert curl.startswith("curl -X POST 'http://testserver/api/v1/projects/acme/workflows/qa/runs'")
    assert f"Bearer {raw}" in curl
    assert curl.endswith("""-d '{"inputs": {"question": "<question>"}, "draft": true}'""")
    listing = login(alice).get(reverse("project-keys", args=["acme"]))
    assert raw not in page_text(listing) and key.prefix in page_text(listing)


def test_key_role_cannot_exceed_the_creators_and_names_are_unique(project, dave, login):
    with pytest.raises(svc.WorkspaceError, match="above your own") as info:
        svc.api_key_create(project=project, actor=dave, name="x", role="owner")
    assert info.value.field == "role"
    svc.api_key_create(project=project, actor=dave, name="CI", role="admin")
    response = login(dave).post(reverse("project-keys", args=["acme"]), {"name": "ci", "role": "viewer"})
    assert response.status_code == 400 and "already exists" in page_text(response)
    past = login(dave).post(
        reverse("project-keys", args=["acme"]), {"name": "old", "role": "viewer", "expires_at": "2001-01-01"}
    )
    assert past.status_code == 400 and "in the future" in page_text(past)
    assert ApiKey.objects.count() == 1


def test_revoked_or_expired_key_is_refused_with_its_reason(project, alice, login):
    key, raw = svc.api_key_create(project=project, actor=alice, name="CI", role="runner")
    url = reverse("api-run-list", args=["acme"])
    assert bearer(raw).get(url).status_code == 200
    assert login(alice).post(reverse("key-revoke", args=["acme", key.pk])).status_code == 302
    refused = bearer(raw).get(url)
    assert refused.status_code in (401, 403) and refused.json()["code"] == "revoked_api_key"
    key2, raw2 = svc.api_key_create(
        project=project, actor=alice, name="Temp", role="runner", expires_at=timezone.now() + datetime.timedelta(days=1)
    )
    ApiKey.objects.filter(pk=key2.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    expired = bearer(raw2).get(url)
    assert expired.status_code in (401, 403) and expired.json()["code"] == "expired_api_key"
    assert AuditEvent.objects.filter(verb="api_key.revoke", actor=alice).count() == 1


def test_api_keys_api_creates_once_lists_prefixes_and_revokes(project, alice, login):
    client = login(alice)
    created = client.post(
        reverse("api-keys", args=["acme"]), {"name": "bot", "role": "viewer"}, content_type="application/json"
    )
    assert created.status_code == 201 and created.json()["key"].startswith("sk_")
    listed = client.get(reverse("api-keys", args=["acme"])).json()
    assert [k["name"] for k in listed] == ["bot"] and "key" not in listed[0]
    assert client.delete(reverse("api-key", args=["acme", listed[0]["id"]])).status_code == 204
    assert ApiKey.objects.get().revoked_at is not None


def test_a_viewer_key_cannot_manage_keys_even_for_an_owner(project, alice):
    _key, raw = svc.api_key_create(project=project, actor=alice, name="ro", role="viewer")
    response = bearer(raw).post(
        reverse("api-keys", args=["acme"]), {"name": "x", "role": "owner"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert ApiKey.objects.count() == 1


def test_secret_value_is_encrypted_never_shown_and_replaceable(project, alice, login):
    client = login(alice)
    response = client.post(reverse("project-secrets", args=["acme"]), {"name": "OPENAI_KEY", "value": CANARY})
    assert response.status_code == 302
    secret = Secret.objects.get(project=project, name="OPENAI_KEY")
    assert CANARY not in secret.ciphertext and secret_reveal(secret) == CANARY
    page = client.get(reverse("project-secrets", args=["acme"]))
    assert "OPENAI_KEY" in page_text(page) and CANARY not in page_text(page)
    assert CANARY not in str(list(AuditEvent.objects.values_list("data", flat=True)))
    client.post(reverse("secret-replace", args=["acme", secret.pk]), {"value": "second-value"})
    secret.refresh_from_db()
    assert secret_reveal(secret) == "second-value"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("bad name", "v", "Use letters, digits and underscores"),
        ("OK_NAME", "", "Enter the secret"),
    ],
)
def test_bad_secret_input_is_a_clear_400(project, alice, login, name, value, message):
    response = login(alice).post(reverse("project-secrets", args=["acme"]), {"name": name, "value": value})
    assert response.status_code == 400 and message in page_text(response)
    assert not Secret.objects.exists()


def test_duplicate_secret_name_is_refused(project, alice):
    svc.secret_create(project=project, actor=alice, name="TOKEN", value="a")
    with pytest.raises(svc.WorkspaceError, match="already exists"):
        svc.secret_create(project=project, actor=alice, name="TOKEN", value="b")


def test_secret_used_by_an_endpoint_or_a_workflow_cannot_be_deleted(project, alice, login, local_endpoint):
    secret = svc.secret_create(project=project, actor=alice, name="TOKEN", value="a")
    local_endpoint.api_key_secret = secret
    local_endpoint.save()
    response = login(alice).post(reverse("secret-delete", args=["acme", secret.pk]))
    assert response.status_code == 400 and "endpoint Local SmolLM2-135M" in page_text(response)
    local_endpoint.api_key_secret = None
    local_endpoint.save()
    graph = demo_graph("question-answering")
    graph["nodes"].append(
        {
            "id": "h",
            "type": "http",
            "label": "H",
            "position": {"x": 0, "y": 0},
            "config": {"url": "https://example.com", "headers": {"X": '{{ secret("TOKEN") }}'}},
        }
    )
    Workflow.objects.create(project=project, slug="wf", name="Caller", draft_graph=graph)
    page = login(alice).get(reverse("project-secrets", args=["acme"]))
    assert "workflow Caller" in page_text(page)
    assert login(alice).post(reverse("secret-delete", args=["acme", secret.pk])).status_code == 400
    Workflow.objects.all().delete()
    assert login(alice).post(reverse("secret-delete", args=["acme", secret.pk])).status_code == 302
    assert not Secret.objects.exists()


def test_admin_grants_and_revokes_the_use_of_a_secret_to_an_editor(project, alice, erin, login):
    from studio.selectors import may_use_secret

    secret = svc.secret_create(project=project, actor=alice, name="TOKEN", value="v")
    editor_membership = erin.memberships.get(project=project)
    assert not may_use_secret(erin, project, secret)
    client = login(alice)
    response = client.post(reverse("secret-grant", args=["acme", secret.pk]), {"member": editor_membership.pk})
    assert response.status_code == 302 and may_use_secret(erin, project, secret)
    page = client.get(reverse("project-secrets", args=["acme"]))
    assert page.context["secrets"][0][2] == [erin]
    assert client.post(reverse("secret-revoke", args=["acme", secret.pk, erin.pk])).status_code == 302
    assert not may_use_secret(erin, project, secret)
    verbs = list(AuditEvent.objects.filter(object_id=str(secret.pk)).values_list("verb", flat=True))
    assert "secret.grant_use" in verbs and "secret.revoke_use" in verbs


def test_grants_need_an_admin_and_a_member_of_this_project(project, alice, erin, bob, login):
    from tests.conftest import ProjectFactory

    secret = svc.secret_create(project=project, actor=alice, name="TOKEN", value="v")
    assert login(erin).post(reverse("secret-grant", args=["acme", secret.pk]), {"member": 1}).status_code == 403
    other = ProjectFactory(slug="other")
    stranger = other.memberships.create(user=bob, role="viewer")
    response = login(alice).post(reverse("secret-grant", args=["acme", secret.pk]), {"member": stranger.pk})
    assert response.status_code == 404
