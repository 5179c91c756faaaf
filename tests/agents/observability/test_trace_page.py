"""A run's trace: the tree run → steps → spans, the span and step panels, rerun from a step."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from agents.models import Run, Workflow
from tests.agents.observability.helpers import add_span, add_step, make_run
from traces.models import Span


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_run_page_links_to_its_trace(brief_run: Run, alice: Any) -> None:
    body = _client(alice).get(reverse("run-detail", args=[brief_run.pk])).content.decode()
    assert f'href="/p/acme/traces/{brief_run.pk}/"' in body


def test_trace_tree_shows_parallel_agents_as_siblings_then_the_writer(brief_run: Run, alice: Any) -> None:
    response = _client(alice).get(reverse("trace-detail", args=["acme", brief_run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    order = [body.index(f"> {node}") for node in ("facts", "risks", "questions", "writer")]
    assert order == sorted(order)
    assert body.count(">parallel</span>") == 3  # the three agents overlap; the writer ran after them
    spans = Span.objects.filter(run_id=brief_run.pk)
    for span in spans:  # every model call sits in the tree under its step
        assert reverse("trace-span", args=["acme", brief_run.pk, span.pk]) in body


def test_span_panel_renders_the_conversation_tokens_price_and_prompt_version(
    brief_run: Run, alice: Any, seeded_prompt: Any
) -> None:
    span = Span.objects.filter(run_id=brief_run.pk, node_id="facts").get()
    version = seeded_prompt.versions.get(version=2)
    Span.objects.filter(pk=span.pk).update(prompt_version_id=version.pk)
    url = reverse("trace-span", args=["acme", brief_run.pk, span.pk])
    response = _client(alice).get(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "chat__msg chat__msg--system" in body and "You are a researcher." in body
    assert "List facts about tides" in body and "facts answer" in body
    assert "50 fresh input" in body and "10 output" in body
    assert "price from endpoint" in body
    assert "/p/acme/prompts/brief-writer/#version-2" in body and "Brief writer v2" in body
    assert "Rerun from this step" in body
    full = _client(alice).get(url)  # without htmx: a page of its own
    assert full.status_code == 200 and b"<html" in full.content


def test_unknown_price_is_flagged_and_never_zero(research: Workflow, alice: Any) -> None:
    run = make_run(research, alice)
    span = add_span(run, add_step(run, "writer", "llm", 0, 100), None, model="mystery/model", cost=None)
    body = _client(alice).get(reverse("trace-span", args=["acme", run.pk, span.pk])).content.decode()
    assert "unknown price" in body and '<dt>Cost</dt><dd class="mono">unknown ' in body


def test_step_panel_and_rerun_from_a_step(brief_run: Run, alice: Any, bob: Any) -> None:
    writer = brief_run.steps.get(node_id="writer")
    body = _client(alice).get(reverse("trace-step", args=["acme", brief_run.pk, writer.pk])).content.decode()
    assert "Model calls" in body and "openai/smollm2" in body
    rerun = reverse("trace-rerun", args=["acme", brief_run.pk, writer.pk])
    assert _client(bob).post(rerun).status_code == 403  # a viewer may not rerun
    assert (
        "Rerun from this step"
        not in _client(bob).get(reverse("trace-step", args=["acme", brief_run.pk, writer.pk])).content.decode()
    )
    response = _client(alice).post(rerun)
    new = Run.objects.exclude(pk=brief_run.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[new.pk])
    assert (new.parent_run_id, new.rerun_from_node) == (brief_run.pk, "writer")


def test_trace_of_another_projects_run_or_span_is_404(brief_run: Run, alice: Any, charlie: Any) -> None:
    from studio.models import Membership, Project, Role

    other = Project.objects.create(slug="other", name="Other")
    Membership.objects.create(project=other, user=alice, role=Role.OWNER)
    client = _client(alice)
    assert client.get(reverse("trace-detail", args=["other", brief_run.pk])).status_code == 404
    assert _client(charlie).get(reverse("trace-detail", args=["acme", brief_run.pk])).status_code == 404
    assert client.get(reverse("trace-span", args=["acme", brief_run.pk, 10**9])).status_code == 404
    assert client.get(reverse("trace-step", args=["acme", brief_run.pk, 10**9])).status_code == 404
