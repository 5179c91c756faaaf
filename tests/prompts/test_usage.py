"""Usage and metrics per version: which published nodes use the prompt (label or pinned), and calls,
tokens, cost (unknown counted apart), p50/p95 latency and error rate from the spans."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.services import workflows as wf
from prompts.metrics import prompt_version_metrics
from prompts.models import Prompt
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from traces.models import Span, SpanStatus, Trace


def _graph(prompt_ref: dict[str, Any]) -> dict[str, Any]:
    field = {"name": "name", "type": "str", "description": "name", "required": True}
    return {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "In",
                "position": {"x": 0, "y": 0},
                "config": {"fields": [field]},
            },
            {
                "id": "writer",
                "type": "llm",
                "label": "Writer",
                "position": {"x": 200, "y": 0},
                "config": {"endpoint": "local", "prompt": prompt_ref, "inputs": [field]},
            },
            {
                "id": "output",
                "type": "output",
                "label": "Out",
                "position": {"x": 400, "y": 0},
                "config": {"fields": [{**field, "name": "text"}]},
            },
        ],
        "edges": [
            {"id": "e1", "source": "input", "source_port": "name", "target": "writer", "target_port": "name"},
            {"id": "e2", "source": "writer", "source_port": "text", "target": "output", "target_port": "text"},
        ],
    }


@pytest.fixture
def greeting(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hi {{ name }}"}], variables=["name"]
    )
    prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hello {{ name }}"}], variables=["name"]
    )
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt


def _spans(prompt: Prompt, number: int, rows: list[tuple[float, str, Decimal | None]]) -> None:
    version = prompt.versions.get(version=number)
    trace = Trace.objects.create(project=prompt.project, name="t")
    for latency, status, cost in rows:
        Span.objects.create(
            trace=trace,
            project=prompt.project,
            prompt_version_id=version.pk,
            input_tokens=10,
            output_tokens=5,
            cost_usd=cost,
            latency_ms=latency,
            status=status,
            started_at=timezone.now(),
        )


def test_metrics_per_version(greeting: Prompt) -> None:
    ok, err = SpanStatus.OK, SpanStatus.ERROR
    _spans(greeting, 1, [(100, ok, Decimal("0.001")), (200, ok, Decimal("0.002")), (300, err, None), (400, ok, None)])
    v2, v1 = prompt_version_metrics(greeting)
    assert (v2.version, v2.calls, v2.cost_text, v2.p50_ms) == (2, 0, "—", None)
    assert (v1.calls, v1.errors, v1.error_rate) == (4, 1, 0.25)
    assert (v1.input_tokens, v1.output_tokens) == (40, 20)
    assert v1.p50_ms == pytest.approx(250) and v1.p95_ms == pytest.approx(385)
    assert v1.cost_text == "$0.003000 + 2 unknown"


def test_usage_page_lists_nodes_by_label_and_pinned_and_the_metrics(greeting: Prompt, alice: Any, bob: Any) -> None:
    by_label = wf.workflow_create(
        project=greeting.project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "label": "production"})
    )
    wf.workflow_publish(workflow=by_label, user=alice)
    pinned = wf.workflow_create(
        project=greeting.project, user=alice, name="Pinned", graph=_graph({"slug": "greeting", "version": 2})
    )
    wf.workflow_publish(workflow=pinned, user=alice)
    _spans(greeting, 2, [(120, SpanStatus.OK, None)])
    client = Client()
    client.force_login(bob)  # a viewer reads it
    body = client.get("/p/acme/prompts/greeting/usage/").content.decode()
    assert body.count('class="chip mono">production</span>') == 1 and "pinned v2" in body
    assert 'href="/p/acme/prompts/greeting/v/1/">v1</a>' in body  # production resolves to v1 now
    assert "Greet" in body and "Pinned" in body and "Writer" in body
    row = body.split('id="metrics-v2"')[1].split("</tr>")[0]
    assert ">1</td>" in row and "unknown" in row and "120 ms" in row


def test_the_list_counts_nodes_and_promote_warns_before_breaking_a_workflow(greeting: Prompt, alice: Any) -> None:
    workflow = wf.workflow_create(
        project=greeting.project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "label": "production"})
    )
    wf.workflow_publish(workflow=workflow, user=alice)
    prompt_version_commit(
        prompt=greeting,
        user=alice,
        messages=[{"role": "user", "content": "Hi {{ name }} from {{ place }}"}],
        variables=["name", "place"],
    )
    client = Client()
    client.force_login(alice)
    listing = client.get("/p/acme/prompts/").content.decode()
    assert 'href="/p/acme/prompts/greeting/usage/">1 node</a>' in listing
    page = client.get("/p/acme/prompts/greeting/promote/", {"label": "production", "version": "3"}).content.decode()
    assert 'id="promote-blocked"' in page and 'lacks <span class="mono">place</span>' in page
    assert 'id="promote-confirm"' not in page
    fine = client.get("/p/acme/prompts/greeting/promote/", {"label": "production", "version": "2"}).content.decode()
    assert 'id="promote-confirm"' in fine and "promote-blocked" not in fine
