"""Run diff: two runs compared step by step, by (node, iteration), with changed fields flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from agents.fragments import dom_key
from agents.models import Run, Step, Workflow
from agents.services.diff import run_diff
from studio.models import Project
from tests.agents.effects.helpers import execute, graph, start_run, text_field

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.agents.effects.urls")]


def two_branches() -> dict:
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("a"), text_field("b")]}},
            {"id": "ta", "type": "template", "config": {"template": "A={{ a }}", "inputs": [text_field("a")]}},
            {"id": "tb", "type": "template", "config": {"template": "B={{ b }}", "inputs": [text_field("b")]}},
            {"id": "output", "type": "output", "config": {"fields": [text_field("ta"), text_field("tb")]}},
        ],
        [
            ("input", "a", "ta", "a"),
            ("input", "b", "tb", "b"),
            ("ta", "text", "output", "ta"),
            ("tb", "text", "output", "tb"),
        ],
    )


@pytest.fixture
def two_runs(project, alice):
    workflow = Workflow.objects.create(project=project, slug="two", name="Two", draft_graph=two_branches())
    first = execute(start_run(workflow, {"a": "same", "b": "one"}, user=alice).pk)
    second = execute(start_run(workflow, {"a": "same", "b": "two"}, user=alice).pk)
    return first, second


def test_steps_are_matched_and_changed_fields_flagged(two_runs):
    first, second = two_runs
    diff = run_diff(first, second)
    steps = {row["node_id"]: row for row in diff["steps"]}
    assert list(steps) == [s.node_id for s in first.steps.order_by("started_at", "id")]
    assert steps["ta"]["changed"] is False and steps["ta"]["presence"] == "both"
    assert steps["tb"]["changed"] is True
    assert {"inputs", "outputs"} <= set(steps["tb"]["changed_fields"])
    assert steps["tb"]["fields"]["outputs"] == {
        "a": {"text": "B=one"},
        "b": {"text": "B=two"},
        "changed": True,
        "keys_changed": ["text"],
    }
    assert steps["tb"]["fields"]["status"] == {"a": "succeeded", "b": "succeeded", "changed": False}
    assert steps["tb"]["fields"]["input_tokens"]["delta"] == 0
    assert "delta" in steps["tb"]["fields"]["duration_ms"]
    assert diff["run"]["outputs"]["keys_changed"] == ["tb"]
    assert diff["run"]["inputs"]["keys_changed"] == ["b"]
    assert diff["summary"] == {"steps": 4, "changed": 3, "unchanged": 1, "reused": 0, "only_a": 0, "only_b": 0}
    assert steps["ta"]["state"] == "unchanged" and steps["tb"]["state"] == "changed"


def test_steps_of_only_one_run_and_cost_deltas(two_runs):
    first, second = two_runs
    Step.objects.create(
        run=second,
        node_id="extra",
        iteration="2",
        node_type="llm",
        status="failed",
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal("0.0015"),
    )
    Step.objects.filter(run=first, node_id="ta").update(cost_usd=Decimal("0.001"))
    Step.objects.filter(run=second, node_id="ta").update(cost_usd=Decimal("0.0035"))
    diff = run_diff(first, second)
    extra = next(row for row in diff["steps"] if row["node_id"] == "extra")
    assert (extra["presence"], extra["iteration"], extra["changed"]) == ("only_b", "2", True)
    assert extra["fields"]["input_tokens"] == {"a": None, "b": 10, "changed": True}
    ta = next(row for row in diff["steps"] if row["node_id"] == "ta")
    assert ta["fields"]["cost_usd"]["delta"] == "0.00250000"
    assert ta["changed"] is True and "cost_usd" in ta["changed_fields"]
    assert diff["summary"]["only_b"] == 1


def test_the_diff_endpoint_checks_access_to_both_runs(two_runs, alice, bob, charlie):
    first, second = two_runs
    url = f"/api/v1/runs/{first.pk}/diff/{second.pk}"
    viewer = APIClient()
    viewer.force_authenticate(bob)
    response = viewer.get(url)
    assert response.status_code == 200
    assert response.json()["summary"]["changed"] == 3
    stranger = APIClient()
    stranger.force_authenticate(charlie)
    assert stranger.get(url).status_code == 404

    other = Project.objects.create(slug="other", name="Other")
    foreign_wf = Workflow.objects.create(project=other, slug="two", name="Two", draft_graph=two_branches())
    foreign = execute(start_run(foreign_wf, {"a": "x", "b": "y"}).pk)
    owner = APIClient()
    owner.force_authenticate(alice)
    assert owner.get(f"/api/v1/runs/{first.pk}/diff/{foreign.pk}").status_code == 404


def test_every_effects_endpoint_is_in_the_openapi_schema(alice):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="tests.agents.effects.urls").get_schema(request=None, public=True)
    paths = schema["paths"]
    assert "get" in paths["/api/v1/runs/{run_id}/approvals"]
    assert "post" in paths["/api/v1/runs/{run_id}/approvals/{node_id}"]
    diff = paths["/api/v1/runs/{run_id}/diff/{other_id}"]["get"]
    assert "RunDiffOut" in str(diff["responses"]["200"])


# ------------------------------------------------------------------ reused steps, loop iterations


def loop_then_final() -> dict:
    """input(name) → loop (3 rounds of a template body) → final (template) → output(text)."""
    body = {
        "node": {
            "id": "round",
            "type": "template",
            "config": {"template": "{{ name }}!", "inputs": [text_field("name")]},
        }
    }
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("name")]}},
            {
                "id": "loop",
                "type": "loop",
                "config": {"inputs": [text_field("name")], "body": body, "max_iterations": 3},
            },
            {
                "id": "final",
                "type": "template",
                "config": {"template": "Done: {{ text }}", "inputs": [text_field("text")]},
            },
            {"id": "output", "type": "output", "config": {"fields": [text_field("text")]}},
        ],
        [("input", "name", "loop", "name"), ("loop", "text", "final", "text"), ("final", "text", "output", "text")],
    )


@pytest.fixture
def rerun_pair(project, alice):
    """A finished run whose steps used tokens (as model steps do), and its rerun from ``final``."""
    workflow = Workflow.objects.create(project=project, slug="loopy", name="Loopy", draft_graph=loop_then_final())
    first = execute(start_run(workflow, {"name": "owl"}, user=alice).pk)
    assert first.status == "succeeded", first.error
    Step.objects.filter(run=first).update(input_tokens=12, output_tokens=7, cost_usd=Decimal("0.0001"))
    rerun = Run.objects.create(
        project=project,
        workflow=workflow,
        graph=first.graph,
        inputs=first.inputs,
        status="queued",
        created_by=alice,
        parent_run=first,
        rerun_from_node="final",
    )
    second = execute(rerun.pk)
    assert second.status == "succeeded", second.error
    return first, second


def test_reused_steps_are_their_own_state_not_changed(rerun_pair):
    first, second = rerun_pair
    diff = run_diff(first, second)
    rows = {(row["node_id"], row["iteration"]): row for row in diff["steps"]}
    for key in (("input", ""), ("loop", "")):
        row = rows[key]
        assert row["reused"] == {"a": False, "b": True}, key
        assert (row["state"], row["changed"]) == ("reused", False), key
        assert row["fields"]["input_tokens"] == {"a": 12, "b": 0, "changed": True, "delta": -12}
    final = rows[("final", "")]
    assert final["reused"] == {"a": False, "b": False}
    assert final["state"] == "changed" and final["changed_fields"][:2] == ["input_tokens", "output_tokens"]
    assert diff["summary"]["reused"] == 2
    assert diff["summary"]["changed"] == sum(1 for row in diff["steps"] if row["state"] == "changed")


def test_a_reused_step_with_other_outputs_is_changed(rerun_pair):
    first, second = rerun_pair
    Step.objects.filter(run=second, node_id="loop").update(outputs={"text": "edited", "iterations": 3})
    row = next(r for r in run_diff(first, second)["steps"] if r["node_id"] == "loop" and r["iteration"] == "")
    assert (row["state"], row["changed"]) == ("changed", True)
    assert row["fields"]["outputs"]["keys_changed"] == ["text"]


def test_loop_iterations_are_rows_of_their_own(project, alice):
    workflow = Workflow.objects.create(project=project, slug="loopy", name="Loopy", draft_graph=loop_then_final())
    first = execute(start_run(workflow, {"name": "owl"}, user=alice).pk)
    second = execute(start_run(workflow, {"name": "bat"}, user=alice).pk)
    diff = run_diff(first, second)
    rounds = [
        (row["node_id"], row["iteration"], row["state"]) for row in diff["steps"] if row["node_id"] == "loop.round"
    ]
    assert rounds == [("loop.round", "1", "changed"), ("loop.round", "2", "changed"), ("loop.round", "3", "changed")]


def test_the_editor_diff_shows_iterations_and_reused_steps(rerun_pair, alice):
    from django.test import Client

    first, second = rerun_pair
    client = Client()
    client.force_login(alice)
    response = client.get(f"/p/acme/w/loopy/edit/diff/?run={first.pk}&run={second.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    for iteration in ("1", "2", "3"):  # the rounds ran only in the first run: one row each, not one collapsed row
        assert f'id="rundiff-{dom_key("loop.round", iteration)}"' in html
    loop_row = html.split(f'id="rundiff-{dom_key("loop", "")}"')[1].split("</div>")[0]
    assert "reused" in loop_row and "differs" not in loop_row
    final_row = html.split(f'id="rundiff-{dom_key("final", "")}"')[1].split("</div>")[0]
    assert "differs" in final_row
