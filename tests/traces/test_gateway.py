"""The LLM gateway against the real local model (SmolLM2-135M on llama.cpp) and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from django.db import connections

from studio.crypto import secret_create
from tests.traces.helpers import QUESTION, SHORT, call
from traces.gateway import GatewayError, SpanContext, check_endpoint, complete, list_models
from traces.models import ModelEndpoint, Span, SpanStatus, StructuredOutput, Trace
from traces.services import trace_start

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True)]
model = pytest.mark.model


def ctx(project, **kwargs):  # type: ignore[no-untyped-def]
    return SpanContext(project_id=project.pk, trace_id=kwargs.pop("trace_id", None), **kwargs)


@model
def test_plain_completion_records_a_span_with_usage_latency_and_zero_cost(project, endpoint):
    completion = call(complete, endpoint=endpoint, messages=QUESTION, params=SHORT, context=ctx(project, name="q"))

    assert "paris" in completion.text.lower()
    assert completion.input_tokens > 0 and completion.output_tokens > 0
    assert completion.cost_usd == Decimal("0") and completion.price_source == "endpoint"
    assert completion.latency_ms > 0
    span = Span.objects.get(pk=completion.span_id)
    assert span.status == SpanStatus.OK and span.error == ""
    assert (span.prompt_tokens, span.completion_tokens) == (completion.input_tokens, completion.output_tokens)
    assert span.kind == "chat" and len(span.otel_span_id) == 16 and span.otel_parent_span_id == ""
    assert span.cost_usd == Decimal("0") and span.price_source == "endpoint"
    assert span.latency_ms == pytest.approx(completion.latency_ms)
    assert span.endpoint_id == endpoint.pk and span.model == "openai/smollm2"
    assert span.input["messages"] == QUESTION
    assert span.input["params"] == {**SHORT, **endpoint.pinned_params}  # what was sent, pinned test params included
    assert span.output["text"] == completion.text
    assert Trace.objects.get(pk=span.trace_id).project_id == project.pk


@model
def test_span_records_run_step_node_prompt_version_in_the_given_trace(project, endpoint):
    trace = trace_start(project_id=project.pk, run_id=41, name="run 41")
    context = ctx(project, trace_id=trace.pk, run_id=41, step_id=7, node_id="n_llm", name="llm node")

    completion = call(
        complete, endpoint=endpoint, messages=QUESTION, params=SHORT, context=context, prompt_version_id=99
    )

    span = Span.objects.get(pk=completion.span_id)
    assert (span.trace_id, span.run_id, span.step_id, span.node_id) == (trace.pk, 41, 7, "n_llm")
    assert span.prompt_version_id == 99 and span.name == "llm node"
    assert Trace.objects.count() == 1


@model
def test_json_object_schema_makes_the_small_model_answer_schema_valid_json(project, endpoint):
    # Values the model would never pick unprompted: only the grammar built from the schema gets them out.
    schema = {
        "type": "object",
        "properties": {
            "verdict": {"enum": ["zebra", "walrus"]},
            "confident": {"type": "boolean"},
            "count": {"type": "integer"},
        },
        "required": ["verdict", "confident", "count"],
    }
    messages = [{"role": "user", "content": "Is the sky blue?"}]

    completion = call(
        complete,
        endpoint=endpoint,
        messages=messages,
        schema=schema,
        params={"temperature": 0, "max_tokens": 60},
        context=ctx(project),
    )

    assert completion.parse_error == ""
    jsonschema.validate(completion.parsed, schema)
    span = Span.objects.get(pk=completion.span_id)
    assert span.input["params"]["response_format"] == {"type": "json_object", "schema": schema}
    assert span.input["schema"] == schema
    assert span.output["parsed"] == completion.parsed


@model
def test_prompt_only_endpoint_puts_the_schema_in_the_system_message(project, endpoint):
    endpoint.structured_output = StructuredOutput.PROMPT_ONLY
    endpoint.save()
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

    completion = call(
        complete,
        endpoint=endpoint,
        messages=QUESTION,
        schema=schema,
        params={"temperature": 0, "max_tokens": 40},
        context=ctx(project),
    )

    span = Span.objects.get(pk=completion.span_id)
    system = span.input["messages"][0]
    assert system["role"] == "system" and json.dumps(schema, separators=(",", ":")) in system["content"]
    assert "response_format" not in span.input["params"]
    # Nothing holds the model to the schema here: either it parsed, or the span says why not.
    assert (completion.parsed is not None) != bool(completion.parse_error)


@model
def test_json_schema_endpoint_on_llama_cpp_is_a_bad_request_not_a_transient_error(project, endpoint):
    endpoint.structured_output = StructuredOutput.JSON_SCHEMA
    endpoint.save()

    with pytest.raises(GatewayError) as caught:
        call(
            complete,
            endpoint=endpoint,
            messages=QUESTION,
            schema={"type": "object"},
            params=SHORT,
            context=ctx(project),
        )

    assert caught.value.code == "bad_request" and caught.value.transient is False
    span = Span.objects.get(pk=caught.value.span_id)
    assert span.status == SpanStatus.ERROR and span.error_code == "bad_request"


@model
def test_unknown_price_is_recorded_as_unknown_never_zero(project, endpoint):
    unpriced = ModelEndpoint.objects.create(
        project=project,
        slug="unpriced",
        name="Unpriced",
        model="openai/smollm2-not-in-any-price-map",
        api_base=endpoint.api_base,
        structured_output=StructuredOutput.JSON_OBJECT_SCHEMA,
    )

    completion = call(complete, endpoint=unpriced, messages=QUESTION, params=SHORT, context=ctx(project))

    assert completion.cost_usd is None and completion.price_source == "unknown"
    assert completion.output_tokens > 0
    span = Span.objects.get(pk=completion.span_id)
    assert span.cost_usd is None and span.price_source == "unknown"


def test_model_server_down_is_a_transient_error_with_an_error_span(project, dead_endpoint):
    with pytest.raises(GatewayError) as caught:
        call(complete, endpoint=dead_endpoint, messages=QUESTION, params=SHORT, context=ctx(project, node_id="n1"))

    error = caught.value
    assert error.transient is True and error.code == "unreachable"
    assert dead_endpoint.api_base in str(error) and "serve_model" in str(error)
    span = Span.objects.get(pk=error.span_id)
    assert span.status == SpanStatus.ERROR and span.error_code == "unreachable"
    assert span.error == str(error) and span.node_id == "n1"
    assert span.cost_usd is None and span.input["messages"] == QUESTION


@model
def test_secret_values_never_reach_the_stored_span(project, endpoint):
    token = "hunter2-correct-horse-battery"
    secret_create(project=project, name="WEBHOOK_TOKEN", value=token)
    provider_key = "sk-live-abcdefghijklmnop123456"
    endpoint.api_key_secret = secret_create(project=project, name="PROVIDER_KEY", value=provider_key)
    endpoint.save()
    messages = [
        {"role": "system", "content": f"The webhook token is {token}. Auth: Bearer abcdefghijklmnopqrstuvwxyz."},
        {"role": "user", "content": f"Repeat exactly: {token} {provider_key} api_key=plainvalue123"},
    ]

    completion = call(
        complete,
        endpoint=endpoint,
        messages=messages,
        params={"temperature": 0, "max_tokens": 40},
        context=ctx(project),
    )

    span = Span.objects.get(pk=completion.span_id)
    stored = json.dumps([span.input, span.output, span.error])
    for value in (token, provider_key, "abcdefghijklmnopqrstuvwxyz", "plainvalue123"):
        assert value not in stored
    assert "[REDACTED]" in stored


def test_values_passed_in_the_context_are_redacted_from_error_spans(project, dead_endpoint):
    token = "very-private-token-42"

    with pytest.raises(GatewayError) as caught:
        call(
            complete,
            endpoint=dead_endpoint,
            messages=[{"role": "user", "content": token}],
            params=SHORT,
            context=ctx(project, redact=(token,)),
        )

    span = Span.objects.get(pk=caught.value.span_id)
    assert token not in json.dumps(span.input)


@model
def test_streaming_calls_on_token_and_still_records_usage(project, endpoint):
    deltas: list[str] = []

    async def on_token(text: str) -> None:
        deltas.append(text)

    completion = call(
        complete,
        endpoint=endpoint,
        messages=QUESTION,
        params={"temperature": 0, "max_tokens": 24},
        context=ctx(project),
        on_token=on_token,
    )

    assert len(deltas) > 1 and "".join(deltas) == completion.text
    assert completion.input_tokens > 0 and completion.output_tokens > 0
    span = Span.objects.get(pk=completion.span_id)
    assert span.output_tokens == completion.output_tokens and span.cost_usd == Decimal("0")
    assert span.output["usage_estimated"] is completion.usage_estimated
    assert span.input["params"]["stream"] is True


@model
def test_a_failing_on_token_callback_propagates_and_leaves_an_error_span(project, endpoint):
    async def on_token(text: str) -> None:
        raise RuntimeError("socket closed")

    with pytest.raises(RuntimeError, match="socket closed"):
        call(complete, endpoint=endpoint, messages=QUESTION, params=SHORT, context=ctx(project), on_token=on_token)

    span = Span.objects.get()
    assert span.status == SpanStatus.ERROR and span.error_code == "callback_error"


@model
def test_forced_tool_choice_returns_a_decoded_tool_call(project, endpoint):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    params = {
        "temperature": 0,
        "max_tokens": 40,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }

    completion = call(
        complete,
        endpoint=endpoint,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,
        params=params,
        context=ctx(project),
    )

    assert len(completion.tool_calls) == 1
    tool_call = completion.tool_calls[0]
    assert tool_call.name == "get_weather" and isinstance(tool_call.arguments.get("city"), str)
    assert tool_call.id
    span = Span.objects.get(pk=completion.span_id)
    assert span.output["tool_calls"][0]["name"] == "get_weather" and span.input["tools"] == tools


def test_an_endpoint_of_another_project_is_refused_before_any_call(project, dead_endpoint):
    from tests.conftest import ProjectFactory

    other = ProjectFactory(slug="other")

    with pytest.raises(GatewayError) as caught:
        call(complete, endpoint=dead_endpoint, messages=QUESTION, context=ctx(other))

    assert caught.value.code == "endpoint_project_mismatch" and caught.value.transient is False
    span = Span.objects.get(pk=caught.value.span_id)
    assert span.project_id == other.pk and span.endpoint_id is None and span.latency_ms == 0


@pytest.mark.parametrize("params", [{"api_key": "x"}, {"mock_response": "fake"}, {"api_base": "http://evil"}])
def test_parameters_outside_the_allow_list_are_refused(project, dead_endpoint, params):
    with pytest.raises(GatewayError) as caught:
        call(complete, endpoint=dead_endpoint, messages=QUESTION, params=params, context=ctx(project))

    assert caught.value.code == "bad_request" and caught.value.transient is False


@model
def test_calls_from_fresh_event_loops_work_like_a_worker_making_several_runs(project, endpoint):
    async def ask() -> int:
        return (await complete(endpoint=endpoint, messages=QUESTION, params=SHORT, context=ctx(project))).span_id

    try:
        first, second = asyncio.run(ask()), asyncio.run(ask())
    finally:
        # asyncio.run's sync_to_async thread holds its own DB connection: close it before teardown.
        asyncio.run(_close_thread_connections())

    assert Span.objects.filter(pk__in=[first, second], status=SpanStatus.OK).count() == 2


async def _close_thread_connections() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(connections.close_all)()


@model
def test_check_endpoint_and_list_models_against_the_local_server(project, endpoint, dead_endpoint):
    ok, message = call(check_endpoint, endpoint=endpoint)
    assert ok is True and "answered" in message
    assert call(list_models, endpoint=endpoint) == ["smollm2"]

    ok, message = call(check_endpoint, endpoint=dead_endpoint)
    assert ok is False and "unreachable" in message


def test_importing_the_gateway_does_not_import_litellm():
    code = (
        "import django, sys; django.setup(); "
        "import traces.gateway, traces.pricing, traces.admin, traces.services, traces.selectors, studio.admin; "
        "print('litellm' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
