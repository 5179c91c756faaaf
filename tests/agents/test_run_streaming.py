"""A run streams model tokens only while someone listens to it (the local model, real Redis channel layer)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from agents.events import run_group
from agents.models import Run, RunStatus, Step, Workflow
from agents.runtime import run_execute
from tests.conftest import demo_graph
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.model]


def _execute(run: Run, *, listen: bool) -> None:
    async def main() -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel() if listen else None
        if channel is not None:
            await layer.group_add(run_group(run.pk), channel)
        try:
            await run_execute(run.pk)
        finally:
            if channel is not None:
                await layer.group_discard(run_group(run.pk), channel)
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


@pytest.mark.parametrize("listen", [False, True])
def test_model_calls_stream_only_while_the_run_has_a_listener(project, local_endpoint, local_model, listen):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    run = Run.objects.create(
        project=project, workflow=workflow, graph=graph, inputs={"question": "Why is grass green?"}
    )

    _execute(run, listen=listen)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    spans = list(Span.objects.filter(run_id=run.pk))
    assert spans and all(span.status == "ok" for span in spans)
    steps = {step.node_id: step.pk for step in Step.objects.filter(run=run)}
    assert all(span.step_id == steps[span.node_id] for span in spans)  # written with its step
    assert [span.input["params"].get("stream", False) for span in spans] == [listen] * len(spans)
