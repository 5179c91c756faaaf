"""The model endpoints API: every member reads, admins and owners write and Test connection (a real call)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import AuditEvent, EgressAllowedHost
from studio.workspace import services as ws
from traces.models import ModelEndpoint, Span

pytestmark = pytest.mark.django_db


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_admin_adds_from_a_preset_changes_and_deletes_an_endpoint(project, alice, bob):
    secret = ws.secret_create(project=project, actor=alice, name="OPENAI_KEY", value="sk-canary-51ab")
    owner = client_of(alice)
    url = reverse("api-endpoints", args=["acme"])
    created = post(
        owner,
        url,
        {
            "preset": "openai",
            "name": "GPT mini",
            "api_key_secret": "OPENAI_KEY",
            "price_mode": "custom",
            "input_price_per_mtok": "0.15",
            "output_price_per_mtok": "0.60",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["model"], body["slug"], body["api_key_secret"]) == ("openai/gpt-4o-mini", "gpt-mini", "OPENAI_KEY")
    assert body["context_window"] == 128000 and body["price_mode"] == "custom" and body["is_active"] is True
    assert "sk-canary-51ab" not in created.content.decode()
    endpoint = ModelEndpoint.objects.get(project=project, slug="gpt-mini")
    assert endpoint.api_key_secret == secret and endpoint.input_price_per_mtok == Decimal("0.15")

    # viewers read the list and one endpoint, and may not write or test
    viewer = client_of(bob)
    assert [row["slug"] for row in viewer.get(url).json()] == ["gpt-mini"]
    one = reverse("api-endpoint", args=["acme", endpoint.pk])
    assert viewer.get(one).json()["model"] == "openai/gpt-4o-mini"
    assert viewer.patch(one, {"name": "X"}, content_type="application/json").status_code == 403
    assert viewer.delete(one).status_code == 403
    assert viewer.post(reverse("api-endpoint-test", args=["acme", endpoint.pk])).status_code == 403

    changed = owner.patch(one, {"price_mode": "unknown", "timeout_s": 30}, content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["price_mode"] == "unknown" and changed.json()["timeout_s"] == 30
    endpoint.refresh_from_db()
    assert endpoint.input_price_per_mtok is None and endpoint.use_litellm_prices is False
    assert endpoint.name == "GPT mini" and endpoint.api_key_secret == secret  # untouched fields kept

    # a secret in use by the endpoint cannot be deleted through the secrets API
    refused = owner.delete(reverse("api-secret", args=["acme", "OPENAI_KEY"]))
    assert refused.status_code == 409 and "GPT mini" in refused.json()["detail"]

    assert owner.delete(one).status_code == 204 and not ModelEndpoint.objects.filter(pk=endpoint.pk).exists()
    verbs = set(AuditEvent.objects.filter(verb__startswith="endpoint.").values_list("verb", flat=True))
    assert verbs == {"endpoint.create", "endpoint.update", "endpoint.delete"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "model": "has space"}, "model"),
        ({"name": "X", "model": "openai/x", "api_base": "not a url"}, "api_base"),
        ({"name": "X", "model": "openai/x", "api_base": "http://169.254.169.254/v1"}, "api_base"),
        ({"name": "X", "model": "openai/x", "api_base": "http://10.1.2.3:8000/v1"}, "api_base"),
        ({"name": "X", "model": "openai/x", "price_mode": "custom"}, "input_price_per_mtok"),
        (
            {"name": "X", "model": "openai/x", "price_mode": "custom", "input_price_per_mtok": "-1"},
            "input_price_per_mtok",
        ),
        ({"name": "X", "model": "openai/x", "api_key_secret": "NOPE"}, "api_key_secret"),
        ({"name": "X", "model": "openai/x", "context_window": 0}, "context_window"),
        ({"name": "X", "model": "openai/x", "timeout_s": 99999}, "timeout_s"),
        ({"name": "X", "model": "openai/x", "preset": "nope"}, "preset"),
        ({"model": "openai/x"}, "name"),
    ],
)
def test_bad_endpoint_input_is_a_400_naming_the_field_and_stores_nothing(project, alice, body, field):
    response = post(client_of(alice), reverse("api-endpoints", args=["acme"]), body)
    assert response.status_code == 400 and field in response.json().get("errors", {}), response.json()
    assert not ModelEndpoint.objects.exists() and not AuditEvent.objects.exists()


def test_bad_patch_changes_nothing(project, alice, local_endpoint):
    before = (local_endpoint.api_base, local_endpoint.name)
    one = reverse("api-endpoint", args=["acme", local_endpoint.pk])
    refused = client_of(alice).patch(
        one, {"name": "Renamed", "api_base": "http://127.0.0.1:1/v1"}, content_type="application/json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "egress_refused"
    local_endpoint.refresh_from_db()
    assert (local_endpoint.api_base, local_endpoint.name) == before


def test_test_connection_answers_from_the_local_model(project, alice, local_model, local_endpoint):
    spans_before = Span.objects.count()
    response = client_of(alice).post(reverse("api-endpoint-test", args=["acme", local_endpoint.pk]))
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True, body
    assert body["answer"] and body["output_tokens"] > 0 and body["input_tokens"] > 0 and body["latency_ms"] > 0
    assert Decimal(body["cost_usd"]) == 0 and body["price_source"] == "endpoint"
    assert Span.objects.count() == spans_before + 1
    assert AuditEvent.objects.filter(verb="endpoint.test", actor=alice, data__ok=True).exists()


def test_test_connection_reports_the_providers_error(project, alice):
    from tests.traces.helpers import unused_port

    port = unused_port()
    EgressAllowedHost.objects.create(host=f"127.0.0.1:{port}")
    dead = ModelEndpoint.objects.create(
        project=project, slug="dead", name="Dead", model="openai/x", api_base=f"http://127.0.0.1:{port}/v1", timeout_s=5
    )
    body = client_of(alice).post(reverse("api-endpoint-test", args=["acme", dead.pk])).json()
    assert body["ok"] is False and body["error_code"] == "unreachable" and body["error"]


def test_outsiders_get_404(project, charlie, local_endpoint):
    assert client_of(charlie).get(reverse("api-endpoints", args=["acme"])).status_code == 404
    assert client_of(charlie).get(reverse("api-endpoint", args=["acme", local_endpoint.pk])).status_code == 404
