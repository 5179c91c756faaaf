"""Usage and metrics per version: which published nodes use the prompt (label or pinned), and calls,
tokens, cost (unknown counted apart), p50/p95 latency and error rate from the spans."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.services import workflows as wf
from prompts.metrics import prompt_version_metrics, prompt_version_scores
from prompts.models import Prompt
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from traces.models import Score, ScoreSource, Span, SpanStatus, Trace


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


def test_scores_per_version_from_span_step_and_run_scores(greeting: Prompt, alice: Any, bob: Any) -> None:
    project = greeting.project
    v1, v2 = greeting.versions.get(version=1), greeting.versions.get(version=2)
    trace = Trace.objects.create(project=project, name="t")
    now = timezone.now()
    span_a = Span.objects.create(
        trace=trace, project=project, prompt_version_id=v1.pk, run_id=901, step_id=9011, started_at=now
    )
    Span.objects.create(trace=trace, project=project, prompt_version_id=v1.pk, run_id=902, step_id=9021, started_at=now)
    Span.objects.create(trace=trace, project=project, prompt_version_id=v2.pk, run_id=903, step_id=9031, started_at=now)
    Span.objects.create(trace=trace, project=project, run_id=904, step_id=9041, started_at=now)  # no prompt
    ev, human = ScoreSource.EVALUATOR, ScoreSource.HUMAN
    Score.objects.create(
        project=project, run_id=901, span_id=span_a.pk, name="contains", value=1.0, label="pass", source=ev
    )
    Score.objects.create(project=project, run_id=902, step_id=9021, name="contains", value=0.0, label="fail", source=ev)
    Score.objects.create(project=project, run_id=901, name="thumbs", value=1.0, source=human, created_by=bob)
    Score.objects.create(project=project, run_id=903, name="contains", value=1.0, label="pass", source=ev)
    Score.objects.create(project=project, run_id=903, name="tone", label="friendly", source=ScoreSource.API)
    Score.objects.create(project=project, run_id=904, name="contains", value=0.0, label="fail", source=ev)  # other
    Score.objects.create(project=project, run_id=901, step_id=5, name="thumbs", value=0.0, source=human)  # other step
    scores = prompt_version_scores(greeting)
    [contains1, thumbs1] = scores[1]
    assert (contains1.name, contains1.count, contains1.mean, contains1.pass_rate) == ("contains", 2, 0.5, 0.5)
    assert (thumbs1.name, thumbs1.count, thumbs1.mean, thumbs1.pass_rate) == ("thumbs", 1, 1.0, None)
    [contains2, tone2] = scores[2]
    assert (contains2.count, contains2.pass_rate) == (1, 1.0)
    assert (tone2.name, tone2.count, tone2.mean, tone2.pass_rate) == ("tone", 1, None, None)
    client = Client()
    client.force_login(bob)
    body = client.get("/p/acme/prompts/greeting/usage/").content.decode()
    row = body.split('id="scores-v1-contains"')[1].split("</tr>")[0]
    assert ">2</td>" in row and "0.50" in row and "50 %" in row and "(1/2)" in row
    row = body.split('id="scores-v2-contains"')[1].split("</tr>")[0]
    assert "100 %" in row and "(1/1)" in row
    assert 'id="scores-v2-tone"' in body and 'id="scores-v1-thumbs"' in body


def test_usage_page_without_scores_says_so(greeting: Prompt, bob: Any) -> None:
    client = Client()
    client.force_login(bob)
    body = client.get("/p/acme/prompts/greeting/usage/").content.decode()
    assert "No scores yet" in body and 'id="scores-v1-' not in body


def test_the_list_shows_the_latest_of_version_commit_and_label_move(greeting: Prompt, alice: Any) -> None:
    from studio.models import Membership, Role
    from tests.conftest import UserFactory

    dana = UserFactory(username="dana")
    Membership.objects.create(project=greeting.project, user=dana, role=Role.ADMIN)
    client = Client()
    client.force_login(alice)

    def last_change() -> str:
        body = client.get("/p/acme/prompts/").content.decode()
        return body.split("data-last-change>")[1].split("</td>")[0]

    assert last_change().startswith("production → v1 · alice · ")  # the move came after both commits
    prompt_label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), user=dana)
    assert last_change().startswith("production → v2 · dana · ")
    prompt_version_commit(
        prompt=greeting, user=alice, messages=[{"role": "user", "content": "Yo {{ name }}"}], variables=["name"]
    )
    assert last_change().startswith("v3 committed · alice · ")
    fresh = prompt_create(project=greeting.project, user=alice, name="Zebra")
    body = client.get("/p/acme/prompts/").content.decode()
    assert "none yet" in body.split(f'id="prompt-{fresh.pk}"')[1].split("</tr>")[0]
