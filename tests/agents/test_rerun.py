"""Rerun from a node: everything not downstream of it is reused, without a model call."""

from __future__ import annotations

import pytest

from agents.models import RunStatus, Workflow
from agents.services.runs import run_rerun_from, run_start, run_wait
from tests.conftest import demo_graph
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


@pytest.fixture
def finished_brief(project, alice, local_endpoint, seeded_prompt, local_model, celery_worker_proc):
    workflow = Workflow.objects.create(project=project, slug="rb", name="RB", draft_graph=demo_graph("research-brief"))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "bicycles"}).pk, timeout_s=300)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def test_rerun_from_node_reuses_upstream_outputs(finished_brief, alice):
    child = run_wait(run_rerun_from(run=finished_brief, node_id="writer", user=alice).pk, timeout_s=300)
    assert child.status == RunStatus.SUCCEEDED, child.error
    assert child.parent_run_id == finished_brief.pk
    steps = {s.node_id: s for s in child.steps.all()}
    for node_id in ("input", "facts", "risks", "questions"):
        assert steps[node_id].reused, node_id
        assert steps[node_id].outputs == finished_brief.steps.get(node_id=node_id).outputs
        assert steps[node_id].input_tokens == 0
    assert not steps["writer"].reused and steps["writer"].output_tokens > 0
    spans = set(Span.objects.filter(run_id=child.pk).values_list("node_id", flat=True))
    assert spans == {"writer"}  # the only model call of the new run
    assert child.input_tokens == steps["writer"].input_tokens


def test_rerun_with_edited_inputs_runs_everything_again(finished_brief, alice):
    child = run_wait(
        run_rerun_from(run=finished_brief, node_id="writer", user=alice, inputs={"topic": "trains"}).pk, timeout_s=300
    )
    assert child.status == RunStatus.SUCCEEDED, child.error
    spans = set(Span.objects.filter(run_id=child.pk).values_list("node_id", flat=True))
    assert spans == {"facts", "risks", "questions", "writer"}


def test_rerun_from_an_unknown_node_is_refused(finished_brief, alice):
    with pytest.raises(ValueError, match="no node"):
        run_rerun_from(run=finished_brief, node_id="nope", user=alice)
