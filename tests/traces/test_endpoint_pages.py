"""Model endpoint pages: presets, validation (SSRF guard on api_base), prices, Test connection on the local model."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import AuditEvent, EgressAllowedHost, Membership, Role
from tests.conftest import UserFactory
from traces.endpoints.presets import PRESETS
from traces.models import ModelEndpoint, Span, StructuredOutput
from traces.pricing import price_call

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def admin_client(project) -> Client:
    user = UserFactory(username="dave")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


def form(**overrides):
    data = {
        "name": "GPT mini",
        "slug": "",
        "model": "openai/gpt-4o-mini",
        "api_base": "",
        "api_key_secret": "",
        "structured_output": "json_schema",
        "price_mode": "custom",
        "input_price_per_mtok": "0.15",
        "output_price_per_mtok": "0.60",
        "cached_input_price_per_mtok": "",
        "context_window": "128000",
        "timeout_s": "60",
        "is_active": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("preset", [p.key for p in PRESETS])
def test_every_preset_fills_the_form(project, admin_client, preset):
    response = admin_client.get(reverse("endpoint-new", args=["acme"]), {"preset": preset})
    assert response.status_code == 200
    chosen = next(p for p in PRESETS if p.key == preset)
    assert response.context["values"]["model"] == chosen.model
    assert response.context["values"]["structured_output"] == chosen.structured_output


def test_admin_adds_an_endpoint_with_prices_and_it_is_audited(project, admin_client):
    response = admin_client.post(reverse("endpoint-new", args=["acme"]), form())
    assert response.status_code == 302
    endpoint = ModelEndpoint.objects.get(project=project, slug="gpt-mini")
    assert endpoint.input_price_per_mtok == Decimal("0.15") and endpoint.structured_output == "json_schema"
    assert AuditEvent.objects.filter(verb="endpoint.create", object_id=str(endpoint.pk)).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"api_base": "http://169.254.169.254/latest"}, "api_base", "Refused"),
        ({"api_base": "http://10.0.0.7:8000/v1"}, "api_base", "Refused"),
        ({"api_base": "ftp://example.com"}, "api_base", "not allowed"),
        ({"api_base": "http:/x"}, "api_base", "Not a usable URL"),
        ({"api_base": "http://user:pw@example.com"}, "api_base", "credentials"),
        ({"model": "openai/<served-model-name>"}, "model", "LiteLLM model string"),
        ({"input_price_per_mtok": ""}, "input_price_per_mtok", "Enter a price"),
        ({"output_price_per_mtok": "-1"}, "output_price_per_mtok", "from 0 to"),
        ({"timeout_s": "nan"}, "timeout_s", "1 to 3600"),
        ({"context_window": "0"}, "context_window", "1 to"),
        ({"name": ""}, "name", "Enter a name"),
    ],
)
def test_bad_endpoint_input_is_a_clear_400_and_nothing_is_saved(project, admin_client, overrides, field, message):
    response = admin_client.post(reverse("endpoint-new", args=["acme"]), form(**overrides))
    assert response.status_code == 400
    assert field in response.context["errors"] and message in response.context["errors"][field]
    assert message in page_text(response)
    assert not ModelEndpoint.objects.exists()


def test_duplicate_slug_is_refused(project, admin_client, local_endpoint):
    response = admin_client.post(reverse("endpoint-new", args=["acme"]), form(slug="local"))
    assert response.status_code == 400 and "already exists" in response.context["errors"]["slug"]


def test_allow_listed_private_host_is_accepted(project, admin_client):
    EgressAllowedHost.objects.create(project=project, host="10.0.0.7:8000")
    response = admin_client.post(reverse("endpoint-new", args=["acme"]), form(api_base="http://10.0.0.7:8000/v1/"))
    assert response.status_code == 302
    assert ModelEndpoint.objects.get().api_base == "http://10.0.0.7:8000/v1"


def test_unknown_price_mode_records_unknown_even_when_litellm_knows_the_model(project, admin_client):
    admin_client.post(reverse("endpoint-new", args=["acme"]), form(price_mode="unknown"))
    endpoint = ModelEndpoint.objects.get()
    assert endpoint.input_price_per_mtok is None and not endpoint.use_litellm_prices
    assert price_call(endpoint, 1000, 500) == (None, "unknown")
    endpoint.use_litellm_prices = True
    cost, source = price_call(endpoint, 1000, 500)
    assert source == "litellm" and cost is not None and cost > 0


def test_edit_changes_the_endpoint_and_viewers_cannot(project, admin_client, local_endpoint, bob):
    url = reverse("endpoint-edit", args=["acme", local_endpoint.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and page.context["values"]["price_mode"] == "custom"
    data = form(
        name="Local",
        slug="local",
        model="openai/smollm2",
        api_base=local_endpoint.api_base,
        structured_output=StructuredOutput.JSON_OBJECT_SCHEMA,
        input_price_per_mtok="0",
        output_price_per_mtok="0",
        context_window="2048",
    )
    assert admin_client.post(url, data).status_code == 302
    local_endpoint.refresh_from_db()
    assert local_endpoint.name == "Local" and local_endpoint.timeout_s == 60
    viewer = Client()
    viewer.force_login(bob)
    assert viewer.get(url).status_code == 403
    assert viewer.post(reverse("endpoint-test", args=["acme", local_endpoint.pk])).status_code == 403


@pytest.mark.model
def test_test_connection_answers_from_the_local_model(project, admin_client, local_model, local_endpoint):
    spans_before = Span.objects.count()
    response = admin_client.post(reverse("endpoint-test", args=["acme", local_endpoint.pk]), HTTP_HX_REQUEST="true")
    result = response.context["result"]
    assert response.status_code == 200 and result.ok, result.error
    assert result.output_tokens > 0 and result.input_tokens > 0 and result.latency_ms > 0
    assert result.cost_usd == Decimal("0") and result.price_source == "endpoint"
    assert "Connected." in page_text(response)
    assert Span.objects.count() == spans_before + 1


def test_test_connection_shows_the_providers_error(project, admin_client):
    from tests.traces.helpers import unused_port

    port = unused_port()
    EgressAllowedHost.objects.create(host=f"127.0.0.1:{port}")
    endpoint = ModelEndpoint.objects.create(
        project=project,
        slug="dead",
        name="Dead",
        model="openai/x",
        api_base=f"http://127.0.0.1:{port}/v1",
        timeout_s=5,
    )
    response = admin_client.post(reverse("endpoint-test", args=["acme", endpoint.pk]))
    result = response.context["result"]
    assert not result.ok and result.error_code == "unreachable"
    assert "Failed (unreachable)" in page_text(response)
