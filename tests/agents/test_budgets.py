"""USD budgets need known prices: the first unpriced model call stops the run as
``budget_unpriced`` (real worker, real local model, the runs API)."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agents.models import RunStatus, Step, Workflow
from agents.services.runs import run_wait
from tests.conftest import demo_graph
from traces.models import ModelEndpoint, Span, StructuredOutput

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


@pytest.fixture
def unpriced_qa(project):
    """The demo's question answering on the local model, through an endpoint without prices
    (LiteLLM's price map does not know ``openai/smollm2`` either)."""
    ModelEndpoint.objects.create(
        project=project, slug="unpriced", name="Unpriced", model="openai/smollm2",
        api_base=settings.STUDIO_LOCAL_MODEL_URL, structured_output=StructuredOutput.JSON_OBJECT_SCHEMA,
        context_window=2048, pinned_params={"temperature": 0, "seed": 1234},
    )  # fmt: skip
    graph = demo_graph("question-answering")
    for node in graph["nodes"]:
        if node["type"] == "agent":
            node["config"]["endpoint"] = "unpriced"
    return Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)


def test_a_usd_budget_on_an_unpriced_endpoint_fails_the_run_as_budget_unpriced(
    unpriced_qa, alice, local_model, celery_worker_proc
):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post(
        "/api/v1/projects/acme/workflows/qa/runs",
        {"inputs": {"question": "What colour is the sky?"}, "budget_usd": "0.000001", "draft": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    run = run_wait(response.json()["id"], timeout_s=600)

    detail = client.get(f"/api/v1/runs/{run.pk}").json()
    assert (detail["status"], detail["error_code"]) == (RunStatus.FAILED, "budget_unpriced")
    assert "no known price" in detail["error"] and "Answerer" in detail["error"]
    assert detail["cost_unknown"] is True
    step = Step.objects.get(run=run, node_id="answerer")
    assert (step.status, step.error_code) == ("failed", "budget_unpriced")
    spans = Span.objects.filter(run_id=run.pk)
    assert spans.count() == 1 and spans.get().cost_usd is None  # one call, recorded as unknown, never $0
    assert not Step.objects.filter(run=run, node_id="output").exists()
