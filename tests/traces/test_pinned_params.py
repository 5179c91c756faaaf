"""An endpoint's pinned sampling parameters (reproducible runs: temperature 0 and a seed)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.traces.helpers import QUESTION, call
from traces.admin import ModelEndpointForm
from traces.gateway import SpanContext, complete
from traces.models import Span
from traces.services import endpoint_ensure_local

pytestmark = pytest.mark.django_db


@pytest.mark.model
def test_pinned_params_win_over_the_callers(project, endpoint):
    endpoint.pinned_params = {"temperature": 0, "seed": 7}
    endpoint.save()

    completion = call(
        complete,
        endpoint=endpoint,
        messages=QUESTION,
        params={"temperature": 0.9, "max_tokens": 8},
        context=SpanContext(project_id=project.pk, trace_id=None),
    )

    params = Span.objects.get(pk=completion.span_id).input["params"]
    assert (params["temperature"], params["seed"], params["max_tokens"]) == (0, 7, 8)


def test_the_local_endpoint_pins_the_configured_params(project):
    # tests/settings.py pins greedy decoding and a seed for every model-backed test.
    assert endpoint_ensure_local(project=project).pinned_params == {"temperature": 0, "seed": 1234}


@override_settings(STUDIO_LOCAL_MODEL_PARAMS={})
def test_by_default_the_local_endpoint_pins_nothing(project):
    assert endpoint_ensure_local(project=project).pinned_params == {}


def form_data(project, pinned: str) -> dict[str, object]:
    return {
        "project": project.pk, "name": "Local", "slug": "local2", "model": "openai/smollm2",
        "api_base": "http://127.0.0.1:8081/v1", "is_active": True, "structured_output": "json_object_schema",
        "context_window": 2048, "timeout_s": 60, "pinned_params": pinned,
    }  # fmt: skip


def test_the_admin_form_refuses_unknown_pinned_params(project):
    form = ModelEndpointForm(data=form_data(project, '{"temprature": 0}'))
    assert not form.is_valid()
    assert "temprature" in str(form.errors["pinned_params"])

    form = ModelEndpointForm(data=form_data(project, '{"temperature": 0, "seed": 42}'))
    assert form.is_valid(), form.errors
    assert form.save().pinned_params == {"temperature": 0, "seed": 42}
