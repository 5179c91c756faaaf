"""The playground on the local model: one version on one endpoint, two endpoints side by side (a priced
one and one with no price: unknown stays unknown), a mistyped variable refused before any call, roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from prompts.models import Prompt
from prompts.services import prompt_create, prompt_version_commit
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory
from traces.models import ModelEndpoint, Span

URL = "/p/acme/prompts/haiku/playground/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def haiku(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Haiku")
    prompt_version_commit(
        prompt=prompt,
        user=alice,
        messages=[{"role": "user", "content": "Write {{ lines }} short lines about {{ topic }}."}],
        variables=[{"name": "topic", "type": "str"}, {"name": "lines", "type": "int"}],
        model_config={"max_tokens": 12},
        commit_message="first",
    )
    return prompt


@pytest.fixture
def unpriced(project: Any, local_endpoint: ModelEndpoint) -> ModelEndpoint:
    """The local model again, with no price and LiteLLM's map off: its cost is unknown."""
    return ModelEndpoint.objects.create(
        project=project,
        slug="local-unpriced",
        name="Local, no price",
        model=local_endpoint.model,
        api_base=local_endpoint.api_base,
        structured_output=local_endpoint.structured_output,
        use_litellm_prices=False,
        pinned_params=local_endpoint.pinned_params,
    )


def test_run_one_version_records_a_span_with_the_prompt_version(
    haiku: Prompt, alice: Any, local_model: str, local_endpoint: ModelEndpoint
) -> None:
    response = client_for(alice).post(
        URL, {"a_version": "1", "a_endpoint": local_endpoint.slug, "var.topic": "the sea", "var.lines": "2"}
    )
    assert response.status_code == 200, response.content.decode()[-2000:]
    body = response.content.decode()
    span = Span.objects.get(prompt_version_id=haiku.versions.get().pk)
    assert span.status == "ok" and span.output_tokens > 0
    assert "Write 2 short lines about the sea." in body  # the rendered message
    assert 'id="result-a-text"' in body and f"span {span.pk}" in body
    assert "cost $0.000000" in body  # the local endpoint's explicit $0 price
    assert f"{span.input_tokens} in · {span.output_tokens} out tokens" in body
    assert AuditEvent.objects.filter(verb="prompt.playground").count() == 1


def test_two_endpoints_side_by_side_and_an_unknown_price_stays_unknown(
    haiku: Prompt, alice: Any, local_model: str, local_endpoint: ModelEndpoint, unpriced: ModelEndpoint
) -> None:
    response = client_for(alice).post(
        URL,
        {
            "compare": "on",
            "a_version": "1",
            "a_endpoint": local_endpoint.slug,
            "b_version": "1",
            "b_endpoint": unpriced.slug,
            "var.topic": "rain",
            "var.lines": "1",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="result-a-cost">cost $0.000000' in body
    assert 'id="result-b-cost">cost unknown' in body
    spans = Span.objects.filter(prompt_version_id=haiku.versions.get().pk)
    assert sorted(str(s.cost_usd) for s in spans) == ["0E-8", "None"]


def test_a_mistyped_variable_is_refused_before_any_call(haiku: Prompt, alice: Any, local_endpoint: Any) -> None:
    response = client_for(alice).post(
        URL, {"a_version": "1", "a_endpoint": local_endpoint.slug, "var.topic": "x", "var.lines": "two"}
    )
    assert response.status_code == 400
    assert "Variable &#x27;lines&#x27; must be int" in response.content.decode()
    assert not Span.objects.exists()
    assert not AuditEvent.objects.filter(verb="prompt.playground").exists()


def test_viewers_cannot_use_the_playground_runners_can_open_it(haiku: Prompt, bob: Any, project: Any) -> None:
    assert client_for(bob).get(URL).status_code == 403
    runner = UserFactory(username="rita")
    Membership.objects.create(project=project, user=runner, role=Role.RUNNER)
    page = client_for(runner).get(URL, {"a_version": "1"}).content.decode()
    assert "No active model endpoint" in page and "Settings → Model endpoints" in page
