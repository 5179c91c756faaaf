"""Run diff: two runs compared step by step, by (node, iteration), with changed fields flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from agents.models import Step, Workflow
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
        [("input", "a", "ta", "a"), ("input", "b", "tb", "b"), ("ta", "text", "output", "ta"),
         ("tb", "text", "output", "tb")],
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
    assert steps["tb"]["fields"]["outputs"] == {"a": {"text": "B=one"}, "b": {"text": "B=two"}, "changed": True,
                                                "keys_changed": ["text"]}
    assert steps["tb"]["fields"]["status"] == {"a": "succeeded", "b": "succeeded", "changed": False}
    assert steps["tb"]["fields"]["input_tokens"]["delta"] == 0
    assert "delta" in steps["tb"]["fields"]["duration_ms"]
    assert diff["run"]["outputs"]["keys_changed"] == ["tb"]
    assert diff["run"]["inputs"]["keys_changed"] == ["b"]
    assert diff["summary"] == {"steps": 4, "changed": 3, "unchanged": 1, "only_a": 0, "only_b": 0}


def test_steps_of_only_one_run_and_cost_deltas(two_runs):
    first, second = two_runs
    Step.objects.create(run=second, node_id="extra", iteration="2", node_type="llm", status="failed",
                        input_tokens=10, output_tokens=5, cost_usd=Decimal("0.0015"))
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
