"""A project with runs of the research-brief workflow: steps (three in parallel) and spans, built in the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agents.models import Run, Workflow, WorkflowVersion
from studio.models import Project
from tests.agents.observability.helpers import add_span, add_step, make_run
from tests.conftest import demo_graph
from traces.models import ModelEndpoint


@pytest.fixture
def research(project: Project) -> Workflow:
    workflow = Workflow.objects.create(
        project=project, slug="research-brief", name="Research brief", draft_graph=demo_graph("research-brief")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    return workflow


@pytest.fixture
def paid_endpoint(project: Project) -> ModelEndpoint:
    return ModelEndpoint.objects.create(
        project=project,
        slug="paid",
        name="Paid model",
        model="openai/gpt-4o-mini",
        input_price_per_mtok=Decimal("0.15"),
        output_price_per_mtok=Decimal("0.6"),
    )


@pytest.fixture
def brief_run(research: Workflow, alice: Any, local_endpoint: ModelEndpoint) -> Run:
    """A finished research-brief run: facts, risks and questions in parallel, then the writer."""
    run = make_run(research, alice, outputs={"brief": "Tides follow the moon."}, duration_ms=4000)
    add_step(run, "input", "input", 0, 5)
    for i, node in enumerate(("facts", "risks", "questions")):
        step = add_step(run, node, "agent", 10, 2000 + i * 100)
        add_span(
            run,
            step,
            local_endpoint,
            start_ms=20,
            latency_ms=1500,
            text=f"{node} answer",
            messages=[
                {"role": "system", "content": "You are a researcher."},
                {"role": "user", "content": f"List {node} about tides"},
            ],
        )
    writer = add_step(run, "writer", "llm", 2300, 3900)
    add_span(run, writer, local_endpoint, start_ms=2310, latency_ms=1500, text="Tides follow the moon.")
    return run
