"""Trace tree data: disjoint tokens priced once, OTel ids, span kinds, run → step → model call, sessions."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from agents.models import Run, RunStatus, Workflow
from agents.runtime import run_execute
from agents.services.runs import run_start
from agents.trace_tree import trace_tree
from tests.conftest import demo_graph
from traces.models import ModelEndpoint, Span, SpanKind, Trace, TraceSource
from traces.pricing import price_call, price_usage
from traces.responses import answer_from_response
from traces.selectors import spans_for_project, traces_for_project, usage_for_project
from traces.services import trace_start
from traces.tokens import TokenUsage, derived_span_id, new_span_id, new_trace_id

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def test_totals_split_into_disjoint_parts_that_sum_to_the_provider_total():
    # LiteLLM's Anthropic usage: prompt_tokens includes cache reads and writes; completion includes reasoning.
    usage = TokenUsage.from_totals(
        prompt_tokens=1000,
        completion_tokens=300,
        cache_read_tokens=600,
        cache_write_tokens=200,
        reasoning_tokens=100,
        provider_total_tokens=1300,
    )

    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (200, 600, 200)
    assert (usage.output_tokens, usage.reasoning_tokens) == (200, 100)
    assert usage.total_tokens == usage.provider_total_tokens == 1300


def test_inconsistent_reports_are_clamped_never_negative():
    usage = TokenUsage.from_totals(
        prompt_tokens=10, completion_tokens=5, cache_read_tokens=50, cache_write_tokens=9, reasoning_tokens=8
    )

    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (0, 10, 0)
    assert (usage.output_tokens, usage.reasoning_tokens) == (0, 5)
    with pytest.raises(ValueError):
        TokenUsage(input_tokens=-1)


def test_every_part_is_priced_once_at_its_own_price():
    endpoint = ModelEndpoint(
        model="anthropic/some-model",
        input_price_per_mtok=Decimal("3"),
        output_price_per_mtok=Decimal("15"),
        cached_input_price_per_mtok=Decimal("0.3"),
        cache_write_price_per_mtok=Decimal("3.75"),
    )
    usage = TokenUsage.from_totals(
        prompt_tokens=1000, completion_tokens=300, cache_read_tokens=600, cache_write_tokens=200, reasoning_tokens=100
    )

    # 200 fresh * 3e-6 + 600 read * 0.3e-6 + 200 written * 3.75e-6 + (200 + 100 reasoning) * 15e-6
    assert price_usage(endpoint, usage) == (Decimal("0.00603"), "endpoint")
    # The OpenAI-totals entry point agrees (no cache writes, no reasoning there).
    assert price_call(endpoint, 1000, 300, 600) == price_usage(
        endpoint, TokenUsage(input_tokens=400, cache_read_tokens=600, output_tokens=300)
    )


def test_cache_writes_without_their_own_price_cost_the_input_price():
    endpoint = ModelEndpoint(model="x/y", input_price_per_mtok=Decimal("1"), output_price_per_mtok=Decimal("2"))

    assert price_usage(endpoint, TokenUsage(input_tokens=100, cache_write_tokens=100)) == (
        Decimal("0.0002"),
        "endpoint",
    )


def test_usage_details_of_a_response_are_read_into_the_answer():
    usage = SimpleNamespace(
        prompt_tokens=120,
        completion_tokens=40,
        total_tokens=160,
        prompt_tokens_details=SimpleNamespace(cached_tokens=50),
        cache_creation_input_tokens=20,
        completion_tokens_details=SimpleNamespace(reasoning_tokens=15),
    )
    message = SimpleNamespace(content="hi", tool_calls=None)
    response = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=usage)

    parts = answer_from_response(response, {"model": "m", "messages": []}, lambda *a: (0, 0)).usage()

    assert parts == TokenUsage(
        input_tokens=50,
        cache_read_tokens=50,
        cache_write_tokens=20,
        output_tokens=25,
        reasoning_tokens=15,
        provider_total_tokens=160,
    )


def test_otel_ids_are_hex_of_the_right_length_and_derived_ids_are_stable():
    assert HEX32.match(new_trace_id()) and HEX16.match(new_span_id())
    assert new_trace_id() != new_trace_id()
    assert derived_span_id("step", 7) == derived_span_id("step", 7) != derived_span_id("run", 7)
    assert HEX16.match(derived_span_id("run", 123))


@pytest.mark.django_db
def test_project_selectors_filter_spans_and_group_traces_by_session(project):
    chat = trace_start(project_id=project.pk, name="a", session_id="sess-1")
    other = trace_start(project_id=project.pk, name="b", session_id="sess-2")
    now = timezone.now()
    Span.objects.create(
        trace=chat,
        project=project,
        kind=SpanKind.CHAT,
        input_tokens=10,
        cache_read_tokens=5,
        output_tokens=3,
        reasoning_tokens=2,
        cost_usd=Decimal("0.01"),
        started_at=now,
    )
    Span.objects.create(trace=other, project=project, kind=SpanKind.EXECUTE_TOOL, status="error", started_at=now)

    assert HEX32.match(chat.otel_trace_id) and chat.source == TraceSource.CALL
    assert [t.name for t in traces_for_project(project.pk, session_id="sess-1")] == ["a"]
    assert [s.kind for s in spans_for_project(project.pk, kinds=[SpanKind.EXECUTE_TOOL])] == ["execute_tool"]
    assert [s.trace_id for s in spans_for_project(project.pk, session_id="sess-1")] == [chat.pk]
    assert spans_for_project(project.pk, status="error").count() == 1
    totals = usage_for_project(project.pk)  # a tool span is not a model call: not counted
    assert (totals.spans, totals.prompt_tokens, totals.completion_tokens, totals.total_tokens) == (1, 15, 5, 20)


def _execute(run: Run) -> None:
    async def main() -> None:
        try:
            await run_execute(run.pk)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


@pytest.mark.django_db(transaction=True)
@pytest.mark.model
def test_a_run_trace_is_run_then_steps_then_model_calls_with_the_session(
    project, alice, local_endpoint, local_model, monkeypatch
):
    # The test executes the run itself: a Celery worker of this session must not claim it first.
    monkeypatch.setattr("agents.services.runs.run_dispatch", lambda run_id: None)
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    run = run_start(workflow=workflow, user=alice, inputs={"question": "What is 2+2?"}, session_id="chat-42")
    _execute(run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error

    root = trace_tree(run)

    assert (root.kind, root.ref, root.span_id) == ("workflow", run, derived_span_id("run", run.pk))
    steps = {node.ref.node_id: node for node in root.children}
    assert set(steps) == {step.node_id for step in run.steps.all()}
    model_steps = [node for node in steps.values() if node.children]
    assert model_steps, "no step holds a model call"
    for step_node in model_steps:
        assert step_node.parent_span_id == root.span_id
        for call in step_node.children:
            span = call.span
            assert span is not None and span.kind == SpanKind.CHAT and HEX16.match(span.otel_span_id)
            assert span.otel_parent_span_id == step_node.span_id == derived_span_id("step", span.step_id)
            assert span.prompt_tokens > 0 and span.completion_tokens > 0
            assert span.total_tokens == span.prompt_tokens + span.completion_tokens
    trace = Trace.objects.get(pk=run.trace_id)
    assert (trace.session_id, trace.source) == ("chat-42", TraceSource.RUN)
    assert run.session_id == "chat-42"
    spans = Span.objects.filter(run_id=run.pk)
    assert run.input_tokens == sum(s.prompt_tokens for s in spans)
    assert run.output_tokens == sum(s.completion_tokens for s in spans)


@pytest.mark.django_db
def test_a_session_id_longer_than_200_characters_is_refused_and_nothing_is_stored(project, alice):
    from agents.services.runs import RunInputError

    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    with pytest.raises(RunInputError) as refused:
        run_start(workflow=workflow, user=alice, inputs={"question": "Why?"}, session_id="s" * 201)

    assert "session_id" in refused.value.errors and not Run.objects.exists()


@pytest.mark.django_db
def test_an_agents_tool_steps_nest_under_the_agent_step(project):
    from agents.models import Step

    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    run = Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, status=RunStatus.SUCCEEDED)
    now = timezone.now()

    def step(node_id: str, iteration: str, node_type: str) -> Step:
        return Step.objects.create(
            run=run,
            node_id=node_id,
            iteration=iteration,
            node_type=node_type,
            status="succeeded",
            started_at=now,
            finished_at=now,
        )

    agent = step("helper", "", "agent")
    first, second = step("helper.lookup", "1", "http"), step("helper.lookup", "2", "http")
    looped = step("loop", "0", "loop")
    body = step("loop.body", "0/1", "llm")

    root = trace_tree(run)

    by_step = {node.ref.pk: node for node in root.walk() if node.ref is not None and node.ref != run}
    assert {node.ref.pk for node in root.children} == {agent.pk, looped.pk}
    assert {child.ref.pk for child in by_step[agent.pk].children} == {first.pk, second.pk}
    assert by_step[first.pk].kind == SpanKind.HTTP and by_step[agent.pk].kind == SpanKind.INVOKE_AGENT
    assert [child.ref.pk for child in by_step[looped.pk].children] == [body.pk]


@pytest.mark.django_db
def test_the_run_api_takes_a_session_id_and_refuses_an_overlong_one(project, alice):
    from rest_framework.test import APIClient

    from agents.models import WorkflowVersion

    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    client = APIClient()
    client.force_authenticate(alice)
    url = "/api/v1/projects/acme/workflows/qa/runs"

    started = client.post(url, {"inputs": {"question": "hi"}, "session_id": "chat-7"}, format="json")
    refused = client.post(url, {"inputs": {"question": "hi"}, "session_id": "x" * 201}, format="json")

    assert started.status_code == 201 and started.json()["session_id"] == "chat-7"
    assert Run.objects.get(pk=started.json()["id"]).session_id == "chat-7"
    assert refused.status_code == 400 and "session_id" in json.dumps(refused.json())
    assert Run.objects.count() == 1
