"""Every pattern template runs end to end on a Celery worker with the local model."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import input_signature
from agents.models import RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from agents.workflow_templates import workflow_templates

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]

SAMPLE_TEXT = "How can a small bakery cut its energy bill?"


def sample_inputs(graph: dict[str, Any]) -> dict[str, Any]:
    """One plausible value per input field of the template."""
    values: dict[str, Any] = {}
    for spec in input_signature(graph).fields:
        values[spec.name] = {
            "str": SAMPLE_TEXT, "int": 3, "float": 0.5, "bool": True,
            "list": ["solar panels", "better insulation"], "object": {"topic": SAMPLE_TEXT},
            "enum": (spec.choices or ["a"])[0],
        }[spec.type]
    return values


@pytest.mark.parametrize("template", workflow_templates(), ids=lambda t: t["slug"])
def test_pattern_template_runs_on_the_local_model(template, project, alice, local_endpoint, seeded_prompt,
                                                   local_model, celery_worker_proc):
    workflow = Workflow.objects.create(project=project, slug=template["slug"], name=template["name"],
                                       draft_graph=template["graph"])
    run = run_start(workflow=workflow, user=alice, inputs=sample_inputs(template["graph"]))
    run = run_wait(run.pk, timeout_s=600)
    assert run.status == RunStatus.SUCCEEDED, f"{run.error_code}: {run.error}"
    assert run.outputs and all(value not in (None, "") for value in run.outputs.values())
    assert run.input_tokens > 0 and run.output_tokens > 0
