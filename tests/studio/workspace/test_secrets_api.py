"""The secrets API: names and users for every member, writes by admins and owners, values never returned."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studio.crypto import secret_reveal
from studio.models import AuditEvent, Secret
from studio.workspace import services as svc

pytestmark = pytest.mark.django_db

CANARY = "sk-canary-7f3a9c2e11"


def test_secret_lifecycle_never_returns_the_value(project, alice, bob, login, local_endpoint):
    client = login(alice)
    bodies: list[str] = []
    url = reverse("api-secrets", args=["acme"])
    created = client.post(url, {"name": "OPENAI_KEY", "value": CANARY}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "OPENAI_KEY" and created.json()["created_by"] == "alice"
    assert "value" not in created.json()
    bodies.append(created.content.decode())
    secret = Secret.objects.get(project=project, name="OPENAI_KEY")
    assert secret_reveal(secret) == CANARY and CANARY not in secret.ciphertext

    one = reverse("api-secret", args=["acme", "OPENAI_KEY"])
    replaced = client.put(one, {"value": CANARY + "-2"}, content_type="application/json")
    assert replaced.status_code == 200 and replaced.json()["name"] == "OPENAI_KEY"
    bodies.append(replaced.content.decode())
    secret.refresh_from_db()
    assert secret_reveal(secret) == CANARY + "-2"

    # the viewer reads names and users, never values, and cannot write
    listed = login(bob).get(url)
    assert listed.status_code == 200 and [row["name"] for row in listed.json()] == ["OPENAI_KEY"]
    bodies.append(listed.content.decode())
    bodies.append(login(bob).get(one).content.decode())
    assert login(bob).put(one, {"value": "x"}, content_type="application/json").status_code == 403
    assert login(bob).delete(one).status_code == 403
    assert login(bob).post(url, {"name": "B", "value": "x"}, content_type="application/json").status_code == 403

    # in use by an endpoint: listed, and a delete is a 409 naming it
    local_endpoint.api_key_secret = secret
    local_endpoint.save(update_fields=["api_key_secret"])
    used = client.get(one).json()["used_by"]
    assert used and used[0]["kind"] == "endpoint" and local_endpoint.name in used[0]["label"]
    refused = client.delete(one)
    assert refused.status_code == 409 and refused.json()["code"] == "in_use"
    assert local_endpoint.name in refused.json()["detail"]
    bodies.append(refused.content.decode())
    local_endpoint.api_key_secret = None
    local_endpoint.save(update_fields=["api_key_secret"])
    assert client.delete(one).status_code == 204 and not Secret.objects.exists()
    assert client.get(one).status_code == 404

    for body in bodies:
        assert CANARY not in body
    verbs = list(AuditEvent.objects.filter(verb__startswith="secret.").values_list("verb", flat=True))
    assert sorted(verbs) == ["secret.create", "secret.delete", "secret.replace"]
    assert CANARY not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "1BAD", "value": "x"}, "name"),
        ({"name": "has space", "value": "x"}, "name"),
        ({"name": "OK_NAME", "value": ""}, "value"),
        ({"name": "OK_NAME", "value": "   "}, "value"),
        ({"name": "OK_NAME"}, "value"),
        ({"name": "OK_NAME", "value": "x" * 10_001}, "value"),
    ],
)
def test_bad_secret_input_is_a_400_naming_the_field_and_stores_nothing(project, alice, login, body, field):
    response = login(alice).post(reverse("api-secrets", args=["acme"]), body, content_type="application/json")
    assert response.status_code == 400 and field in response.json().get("errors", {}), response.json()
    assert not Secret.objects.exists() and not AuditEvent.objects.exists()


def test_duplicate_name_and_empty_replacement_are_refused(project, alice, login):
    svc.secret_create(project=project, actor=alice, name="TOKEN", value=CANARY)
    client = login(alice)
    dup = client.post(
        reverse("api-secrets", args=["acme"]), {"name": "TOKEN", "value": "b"}, content_type="application/json"
    )
    assert dup.status_code == 400 and dup.json()["code"] == "duplicate"
    empty = client.put(reverse("api-secret", args=["acme", "TOKEN"]), {"value": ""}, content_type="application/json")
    assert empty.status_code == 400 and "value" in empty.json()["errors"]
    assert secret_reveal(Secret.objects.get(name="TOKEN")) == CANARY
    assert CANARY not in dup.content.decode() + empty.content.decode()


def test_outsiders_do_not_see_the_secrets(project, alice, charlie, login):
    svc.secret_create(project=project, actor=alice, name="TOKEN", value=CANARY)
    assert login(charlie).get(reverse("api-secrets", args=["acme"])).status_code == 404
    assert login(charlie).get(reverse("api-secret", args=["acme", "TOKEN"])).status_code == 404
