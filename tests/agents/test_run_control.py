"""Cancel and budgets on the real services: every run ends in exactly one terminal state."""

from __future__ import annotations

import time

import pytest

from agents.models import Run, RunEvent, RunStatus, Step, Workflow
from agents.services.runs import RunStateError, run_cancel, run_start, run_wait
from tests.conftest import demo_graph

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


def _wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _long_answer_graph() -> dict:
    graph = demo_graph("question-answering")
    answerer = next(node for node in graph["nodes"] if node["id"] == "answerer")
    answerer["config"]["params"] = {"temperature": 0.9, "max_tokens": 1500}
    answerer["config"]["instructions"] = "Answer in a very long essay with many details."
    return graph


def test_cancel_during_a_model_call_stops_the_run(project, alice, local_endpoint, local_model, celery_worker_proc):
    workflow = Workflow.objects.create(project=project, slug="long", name="Long", draft_graph=_long_answer_graph())
    run = run_start(workflow=workflow, user=alice, inputs={"question": "Tell me the history of tea."})
    _wait_for(lambda: Step.objects.filter(run=run, node_id="answerer", status="running").exists(), 120,
              "the model call to start")
    run_cancel(run=run, user=alice)
    final = run_wait(run.pk, timeout_s=60)
    assert final.status == RunStatus.CANCELLED
    assert final.error_code == "cancelled"
    answerer = Step.objects.get(run=run, node_id="answerer")
    assert answerer.status == "failed" and answerer.error_code == "cancelled"
    assert not Step.objects.filter(run=run, node_id="output").exists()
    finished = RunEvent.objects.filter(run=run, type="run.finished")
    assert finished.count() == 1 and finished.get().payload["status"] == "cancelled"
    with pytest.raises(RunStateError):
        run_cancel(run=final, user=alice)


def test_cancel_of_a_queued_run_is_immediate(project, alice, local_endpoint):
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    run = Run.objects.create(project=project, workflow=workflow, graph=workflow.draft_graph, inputs={"question": "x"})
    cancelled = run_cancel(run=run, user=alice)
    assert cancelled.status == RunStatus.CANCELLED
    assert RunEvent.objects.filter(run=run, type="run.finished").count() == 1


@pytest.mark.parametrize(("budget", "value"), [("budget_tokens", 20), ("budget_usd", None)])
def test_budget_stops_the_run_as_soon_as_a_step_crosses_it(project, alice, local_endpoint, local_model,
                                                           celery_worker_proc, budget, value):
    if budget == "budget_usd":
        local_endpoint.input_price_per_mtok = 100_000  # $0.10 per token: any call crosses a $0.50 budget
        local_endpoint.output_price_per_mtok = 100_000
        local_endpoint.save()
        value = "0.50"
    workflow = Workflow.objects.create(project=project, slug="rb", name="RB", draft_graph=demo_graph("research-brief"),
                                       max_concurrency=1, **{budget: value})

    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=300)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "budget_exceeded"
    llm_steps = list(Step.objects.filter(run=run, node_type__in=["agent", "llm"]))
    crossing = [step for step in llm_steps if step.error_code == "budget_exceeded"]
    assert len(crossing) == 1  # max_concurrency 1: one model step crossed it and the run stopped there
    assert crossing[0].input_tokens > 0  # what was spent is recorded on the step and the run
    assert run.input_tokens == crossing[0].input_tokens  # a step that got its slot meanwhile spent nothing
    assert all(step.status == "failed" for step in llm_steps)
    assert not Step.objects.filter(run=run, node_id="writer").exists()


def test_run_timeout_fails_the_run_and_closes_its_steps(project, alice, local_endpoint, local_model,
                                                         celery_worker_proc):
    from tests.agents.test_durability import chain_graph

    # Six model calls in a row cannot finish within one second on any machine.
    workflow = Workflow.objects.create(project=project, slug="slow", name="Slow", draft_graph=chain_graph(6),
                                       timeout_s=1)
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"text": "The history of tea."}).pk,
                   timeout_s=120)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "run_timeout"
    assert not Step.objects.filter(run=run, status="running").exists()
    assert RunEvent.objects.filter(run=run, type="run.finished").count() == 1
