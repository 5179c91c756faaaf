"""A real run reads the project's variables: the agent's instructions on the local model, and a template."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from agents.models import Run, RunStatus, Step, Workflow
from agents.runtime import run_execute
from studio.workspace.variables import variable_create
from tests.conftest import demo_graph
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.model]


def _execute(run: Run) -> None:
    async def main() -> None:
        try:
            await run_execute(run.pk)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


def test_a_run_on_the_local_model_reads_the_projects_variables(project, alice, local_endpoint, local_model):
    variable_create(project=project, actor=alice, name="team", type="str", value="Team Falcon")
    variable_create(project=project, actor=alice, name="limits", type="object", value={"sentences": 2})
    graph = demo_graph("question-answering")
    answerer = next(n for n in graph["nodes"] if n["id"] == "answerer")
    answerer["config"]["instructions"] = (
        "You answer for {{ vars.team }}. Answer in at most {{ vars.limits.sentences }} sentences."
    )
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    run = Run.objects.create(
        project=project, workflow=workflow, graph=graph, inputs={"question": "Why is the sky blue?"}
    )

    _execute(run)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert isinstance(run.outputs["answer"], str) and run.outputs["answer"].strip()
    sent = json.dumps([span.input for span in Span.objects.filter(run_id=run.pk)])
    assert "You answer for Team Falcon. Answer in at most 2 sentences." in sent
    assert "vars." not in sent
    assert Step.objects.get(run=run, node_id="answerer").status == "succeeded"
