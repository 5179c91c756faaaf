"""Sub-workflows: the published child runs inline as a child run, once per step; cycles are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agents.effects.subworkflows import check_subworkflow_cycles
from agents.models import Run, RunStatus, Step, SubworkflowCall, Workflow
from agents.services.runs import run_start, run_wait
from tests.agents.effects.helpers import execute, publish, start_run, subworkflow_graph, template_graph


@pytest.mark.django_db
def test_no_problem_for_a_graph_calling_a_published_workflow(project):
    publish(project, "greet", template_graph())
    assert check_subworkflow_cycles(project, subworkflow_graph("greet"), slug="parent") == []


@pytest.mark.django_db
def test_a_cycle_through_published_versions_is_reported(project):
    publish(project, "a", subworkflow_graph("b"))
    publish(project, "b", subworkflow_graph("a"))
    (problem,) = check_subworkflow_cycles(project, subworkflow_graph("b"), slug="a")
    assert "a → b → a" in problem
    # Without the caller's slug the cycle between the published versions is still found.
    assert any("b → a → b" in p for p in check_subworkflow_cycles(project, subworkflow_graph("b")))


@pytest.mark.django_db
def test_a_workflow_calling_itself_is_a_cycle(project):
    problems = check_subworkflow_cycles(project, subworkflow_graph("self"), slug="self")
    assert any("self → self" in p for p in problems)


@pytest.mark.django_db
def test_unknown_unpublished_and_mismatched_children_are_reported(project):
    Workflow.objects.create(project=project, slug="draft-only", name="Draft only", draft_graph=template_graph())
    publish(project, "greet", template_graph())
    assert "does not exist" in check_subworkflow_cycles(project, subworkflow_graph("nope"))[0]
    assert "no published version" in check_subworkflow_cycles(project, subworkflow_graph("draft-only"))[0]
    problems = check_subworkflow_cycles(project, subworkflow_graph("greet", child_input="who", child_output="html"))
    assert any('expects output "html"' in p for p in problems)
    assert any('does not pass input "name"' in p for p in problems)


@pytest.mark.django_db(transaction=True)
def test_the_latest_published_version_runs_as_a_child_run(project, alice):
    child_wf = publish(project, "greet", template_graph("v1: {{ name }}"))
    publish(project, "greet", template_graph("v2: {{ name }}"), version=2)
    child_wf.draft_graph = template_graph("draft: {{ name }}")
    child_wf.save()
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("greet"))
    parent = execute(start_run(parent_wf, {"name": "Ada"}, user=alice).pk)
    assert parent.status == RunStatus.SUCCEEDED, parent.error
    assert parent.outputs == {"text": "v2: Ada"}
    child = Run.objects.get(parent_run=parent)
    assert (child.workflow.slug, child.version.version, child.status) == ("greet", 2, RunStatus.SUCCEEDED)
    assert child.created_by == alice and child.inputs == {"name": "Ada"}
    assert SubworkflowCall.objects.get(child_run=child).node_id == "sub"
    assert Step.objects.get(run=parent, node_id="sub").outputs == {"text": "v2: Ada"}


@pytest.mark.django_db(transaction=True)
def test_a_resumed_parent_reuses_its_child_run(project, alice):
    publish(project, "greet", template_graph())
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("greet"))
    parent = execute(start_run(parent_wf, {"name": "Ada"}, user=alice).pk)
    child = Run.objects.get(parent_run=parent)
    # The parent's worker died after the child finished, before the parent's step was committed.
    Step.objects.filter(run=parent, node_id__in=["sub", "output"]).delete()
    Run.objects.filter(pk=parent.pk).update(status=RunStatus.RUNNING, outputs={}, finished_at=None,
                                            lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    parent = execute(parent.pk)
    assert parent.status == RunStatus.SUCCEEDED, parent.error
    assert parent.outputs == {"text": "Hello Ada!"}
    assert list(Run.objects.filter(parent_run=parent).values_list("pk", flat=True)) == [child.pk]
    assert Run.objects.get(pk=child.pk).attempt == 1  # not executed again


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_child_is_resumed_by_the_parent(project, alice):
    publish(project, "greet", template_graph())
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("greet"))
    parent = execute(start_run(parent_wf, {"name": "Ada"}, user=alice).pk)
    child = Run.objects.get(parent_run=parent)
    # Both workers died mid-child: the child's input step is done, its template step is not.
    Step.objects.filter(run=child, node_id__in=["greet", "output"]).delete()
    Step.objects.filter(run=parent, node_id__in=["sub", "output"]).delete()
    expired = timezone.now() - dt.timedelta(seconds=1)
    for run in (parent, child):
        Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, outputs={}, finished_at=None,
                                             lease_expires_at=expired)
    parent = execute(parent.pk)
    assert parent.status == RunStatus.SUCCEEDED, parent.error
    child = Run.objects.get(pk=child.pk)
    assert child.status == RunStatus.SUCCEEDED and child.attempt == 2
    assert Step.objects.get(run=child, node_id="input").attempt == 1  # reused
    assert Step.objects.get(run=child, node_id="greet").attempt == 2


@pytest.mark.django_db(transaction=True)
def test_a_cycle_is_refused_at_run_time_before_any_child_starts(project, alice):
    publish(project, "a", subworkflow_graph("b"))
    publish(project, "b", subworkflow_graph("a"))
    run = execute(start_run(Workflow.objects.get(slug="a"), {"name": "x"}, user=alice,
                            version=Workflow.objects.get(slug="a").versions.get()).pk)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "subworkflow_cycle" and "a → b → a" in run.error
    assert not Run.objects.filter(parent_run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_child_workflow_fails_the_step(project, alice):
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("missing"))
    run = execute(start_run(parent_wf, {"name": "x"}, user=alice).pk)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "workflow_not_found" and run.failed_node == "sub"


@pytest.mark.django_db(transaction=True)
def test_a_failing_child_fails_the_parent_with_its_error(project, alice):
    publish(project, "broken", template_graph("{{ (name | length) // 0 }}"))  # fails when rendered
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("broken"))
    run = execute(start_run(parent_wf, {"name": "x"}, user=alice).pk)
    assert run.status == RunStatus.FAILED
    assert run.failed_node == "sub" and "division" in run.error
    assert Run.objects.get(parent_run=run).status == RunStatus.FAILED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_subworkflow_runs_inline_on_a_worker(project, alice, celery_worker_proc):
    publish(project, "greet", template_graph())
    parent_wf = Workflow.objects.create(project=project, slug="parent", name="Parent",
                                        draft_graph=subworkflow_graph("greet"))
    run = run_wait(run_start(workflow=parent_wf, user=alice, inputs={"name": "Grace"}).pk, timeout_s=120)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"text": "Hello Grace!"}
    child = Run.objects.get(parent_run=run)
    assert child.status == RunStatus.SUCCEEDED and child.attempt == 1
    assert {s.node_id for s in child.steps.all()} == {"input", "greet", "output"}
