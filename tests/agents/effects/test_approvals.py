"""Approvals: the run waits, a runner decides (approve, edit, reject), the run resumes reusing finished steps."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import ApprovalDecision, Run, RunEvent, RunStatus, Step, Workflow
from agents.services.approvals import ApprovalDataError, approval_decide
from agents.services.runs import RunStateError, run_start, run_wait
from studio.models import AuditEvent, Membership, Role
from tests.agents.effects.helpers import execute, publish, review_graph, start_run, subworkflow_graph
from tests.conftest import UserFactory

pytestmark = pytest.mark.urls("tests.agents.effects.urls")


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def waiting_run(project, alice):
    workflow = Workflow.objects.create(project=project, slug="review", name="Review", draft_graph=review_graph())
    run = execute(start_run(workflow, {"draft": "first draft"}, user=alice).pk)
    assert run.status == RunStatus.WAITING, run.error
    return run


@pytest.mark.django_db(transaction=True)
def test_an_approval_step_makes_the_run_wait_with_what_is_under_review(waiting_run, bob):
    steps = {s.node_id: s for s in waiting_run.steps.all()}
    assert steps["review"].status == "waiting"
    assert steps["review"].inputs == {"draft": "first draft"}
    assert "publish" not in steps and "output" not in steps
    response = client_for(bob).get(f"/api/v1/runs/{waiting_run.pk}/approvals")  # viewers may look
    assert response.status_code == 200
    (pending,) = response.json()
    assert pending["run_id"] == waiting_run.pk and pending["node_id"] == "review" and pending["iteration"] == ""
    assert pending["inputs"] == {"draft": "first draft"}
    assert pending["instructions"] == "Please review: first draft"
    assert [f["name"] for f in pending["fields"]] == ["draft"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_approving_with_edited_data_resumes_the_run_and_reuses_finished_steps(waiting_run, alice,
                                                                              celery_worker_proc):
    response = client_for(alice).post(f"/api/v1/runs/{waiting_run.pk}/approvals/review",
                                      {"approved": True, "data": {"draft": "edited draft"}, "comment": "lgtm"},
                                      format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["decided_by"] == "alice"
    decided = RunEvent.objects.get(run=waiting_run, type="approval.decided")
    assert decided.payload["approved"] is True and decided.payload["edited"] == ["draft"]
    assert AuditEvent.objects.filter(verb="run.approval_decide", object_id=str(waiting_run.pk)).exists()

    run = run_wait(waiting_run.pk, timeout_s=120)  # dispatched on commit: a worker resumes it
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"text": "PUBLISHED: edited draft", "comment": "lgtm", "rejected": ""}
    review = Step.objects.get(run=run, node_id="review")
    assert review.status == "succeeded" and review.meta["edited"] is True and review.meta["decided_by"] == "alice"
    assert Step.objects.get(run=run, node_id="input").attempt == 1  # reused, not run again on attempt 2
    assert run.attempt == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_rejecting_skips_the_approved_path_and_emits_the_comment(waiting_run, alice, celery_worker_proc):
    approval_decide(run=waiting_run, node_id="review", approved=False, comment="too long", user=alice)
    run = run_wait(waiting_run.pk, timeout_s=120)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"text": "", "comment": "too long", "rejected": "too long"}
    assert Step.objects.get(run=run, node_id="publish").status == "skipped"


@pytest.mark.django_db(transaction=True)
def test_a_viewer_may_not_decide_and_a_stranger_does_not_see_the_run(waiting_run, bob, charlie):
    url = f"/api/v1/runs/{waiting_run.pk}/approvals/review"
    assert client_for(bob).post(url, {"approved": True}, format="json").status_code == 403
    assert client_for(charlie).post(url, {"approved": True}, format="json").status_code == 404
    assert client_for(charlie).get(f"/api/v1/runs/{waiting_run.pk}/approvals").status_code == 404
    assert not ApprovalDecision.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_runner_may_decide(waiting_run, project, celery_worker_proc):
    runner = UserFactory(username="rita")
    Membership.objects.create(project=project, user=runner, role=Role.RUNNER)
    response = client_for(runner).post(f"/api/v1/runs/{waiting_run.pk}/approvals/review", {"approved": True},
                                       format="json")
    assert response.status_code == 201
    assert run_wait(waiting_run.pk, timeout_s=120).status == RunStatus.SUCCEEDED  # resumed by the worker


@pytest.mark.parametrize(
    ("data", "field"),
    [({"draft": 42}, "draft"), ({"draft": None}, "draft"), ({"title": "x"}, "title")],
)
@pytest.mark.django_db(transaction=True)
def test_data_that_does_not_fit_the_signature_is_a_400(waiting_run, alice, data, field):
    response = client_for(alice).post(f"/api/v1/runs/{waiting_run.pk}/approvals/review",
                                      {"approved": True, "data": data}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_data"
    assert field in response.json()["errors"]
    assert Run.objects.get(pk=waiting_run.pk).status == RunStatus.WAITING
    assert not ApprovalDecision.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_deciding_when_nothing_waits_is_a_409(waiting_run, alice, celery_worker_proc):
    client = client_for(alice)
    url = f"/api/v1/runs/{waiting_run.pk}/approvals"
    assert client.post(f"{url}/publish", {"approved": True}, format="json").status_code == 409
    assert client.post(f"{url}/review", {"approved": True, "iteration": "3"}, format="json").status_code == 409
    assert client.post(f"{url}/review", {"approved": True}, format="json").status_code == 201
    second = client.post(f"{url}/review", {"approved": False}, format="json")
    assert second.status_code == 409 and second.json()["code"] == "not_waiting"
    with pytest.raises(RunStateError, match="not waiting"):
        approval_decide(run=waiting_run, node_id="review", approved=True, user=None)
    run_wait(waiting_run.pk, timeout_s=120)  # the approved run resumes on the worker: let it end


@pytest.mark.django_db(transaction=True)
def test_approval_decide_validates_edits_against_the_unchanged_values(waiting_run, alice):
    with pytest.raises(ApprovalDataError) as caught:
        approval_decide(run=waiting_run, node_id="review", approved=True, data={"draft": ["a"]}, user=alice)
    assert "draft" in caught.value.errors


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_approval_inside_a_subworkflow_resumes_the_parent(project, alice, celery_worker_proc):
    publish(project, "review", review_graph())
    parent_graph = subworkflow_graph("review", child_input="draft", child_output="text")
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent", draft_graph=parent_graph)
    parent = execute(start_run(parent_wf, {"name": "child draft"}, user=alice).pk)
    assert parent.status == RunStatus.WAITING, parent.error
    child = Run.objects.get(parent_run=parent)
    assert child.status == RunStatus.WAITING

    (pending,) = client_for(alice).get(f"/api/v1/runs/{parent.pk}/approvals").json()
    assert pending["run_id"] == child.pk and pending["node_id"] == "review"
    approval_decide(run=child, node_id="review", approved=True, user=alice)

    parent = run_wait(parent.pk, timeout_s=120)  # the parent is dispatched and runs the child inline again
    assert parent.attempt == 2 and Run.objects.get(pk=child.pk).attempt == 2
    assert parent.status == RunStatus.SUCCEEDED, parent.error
    assert parent.outputs == {"text": "PUBLISHED: child draft"}
    assert Run.objects.filter(parent_run=parent).count() == 1
    assert Run.objects.get(pk=child.pk).status == RunStatus.SUCCEEDED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_approval_round_trip_on_a_worker(project, alice, bob, celery_worker_proc):
    workflow = Workflow.objects.create(project=project, slug="review", name="Review", draft_graph=review_graph())
    run = run_start(workflow=workflow, user=alice, inputs={"draft": "first draft"})
    run = run_wait(run.pk, timeout_s=120)
    assert run.status == RunStatus.WAITING, run.error
    assert Step.objects.get(run=run, node_id="review").status == "waiting"

    url = f"/api/v1/runs/{run.pk}/approvals/review"
    assert client_for(bob).post(url, {"approved": True}, format="json").status_code == 403
    response = client_for(alice).post(url, {"approved": True, "data": {"draft": "edited draft"}, "comment": "ok"},
                                      format="json")
    assert response.status_code == 201, response.json()

    run = run_wait(run.pk, timeout_s=120)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"text": "PUBLISHED: edited draft", "comment": "ok", "rejected": ""}
    assert Step.objects.get(run=run, node_id="input").attempt == 1  # finished steps were reused
    types = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("type", flat=True))
    assert types.index("run.waiting") < types.index("approval.decided") < types.index("run.finished")

    second = run_start(workflow=workflow, user=alice, inputs={"draft": "another"})
    assert run_wait(second.pk, timeout_s=120).status == RunStatus.WAITING
    assert client_for(alice).post(f"/api/v1/runs/{second.pk}/approvals/review",
                                  {"approved": False, "comment": "no"}, format="json").status_code == 201
    second = run_wait(second.pk, timeout_s=120)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.outputs == {"text": "", "comment": "no", "rejected": "no"}
    assert Step.objects.get(run=second, node_id="publish").status == "skipped"


def test_find_node_descends_into_container_bodies():
    from agents.effects.approvals import approval_config, find_node

    inner = {"id": "check", "type": "approval", "config": {"inputs": [{"name": "item", "type": "str"}]}}
    doc = {"nodes": [
        {"id": "check", "type": "template", "config": {}},
        {"id": "loop", "type": "loop", "config": {"body": {"graph": {"nodes": [inner], "edges": []}}}},
        {"id": "fan", "type": "parallel", "config": {"body": {"node": {**inner, "id": "body"}}}},
    ]}
    assert find_node(doc, "check")["type"] == "template"
    assert find_node(doc, "loop.check") is inner
    assert find_node(doc, "fan.body")["type"] == "approval"
    assert find_node(doc, "loop.missing") is None
    assert [f.name for f in approval_config(doc, "loop.check").inputs] == ["item"]
    assert approval_config(doc, "check") is None  # not an approval node
