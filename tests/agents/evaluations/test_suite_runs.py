"""Suite runs on a real Celery worker against the local model: the CLI, JUnit XML, the grid's
comparison with the previous run, the publish gate and its audited override, feedback as scores."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from agents.evaluations.models import CaseStatus, SuiteRun, SuiteRunStatus
from agents.evaluations.selectors import suite_run_grid
from agents.evaluations.services import suite_case_add, suite_check_add
from agents.models import Workflow
from agents.services.workflows import SuiteGateError, workflow_publish
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory, demo_graph
from traces.models import Score

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]


@pytest.fixture
def qa(project: Any, local_endpoint: Any, alice: Any) -> Workflow:
    workflow = Workflow.objects.create(
        project=project,
        slug="question-answering",
        name="Question answering",
        draft_graph=demo_graph("question-answering"),
    )
    suite_check_add(
        workflow=workflow, user=alice, name="answers", kind="regex", config={"field": "answer", "pattern": r"\w"}
    )
    suite_check_add(
        workflow=workflow,
        user=alice,
        name="confidence-is-a-number",
        kind="expression",
        config={"expression": "outputs.confidence is number"},
    )
    suite_case_add(workflow=workflow, user=alice, name="sky", inputs={"question": "What colour is the sky?"})
    suite_case_add(workflow=workflow, user=alice, name="france", inputs={"question": "What is the capital of France?"})
    return workflow


def _cli(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("test_workflow", "question-answering", "--project", "acme", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_suite_passes_fails_compares_and_gates_publishing(qa, alice, local_model, celery_worker_proc, tmp_path):
    # 1. A passing suite on the draft: exit 0, valid JUnit XML with one testcase per case.
    junit = tmp_path / "junit.xml"
    code, out = _cli("--draft", "--junit", str(junit))
    assert code == 0, out
    assert "2 passed, 0 failed" in out
    report = ET.parse(junit).getroot()  # noqa: S314 - our own report
    cases = report.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["sky", "france"]
    assert not report.findall(".//failure")
    first = SuiteRun.objects.get()
    assert first.status == SuiteRunStatus.PASSED
    assert Score.objects.filter(suite_run_id=first.pk, source="evaluator", value=1.0).count() == 4

    # The model's answer is deterministic (temperature 0, seed 1234): a contains check on a word of it passes.
    answer = first.results.get(name="france").outputs["answer"]
    word = max(answer.split(), key=len).strip(".,!?\"'")
    suite_check_add(
        workflow=qa, user=alice, name="same-answer", kind="contains", config={"field": "answer", "value": word}
    )
    qa.suite.cases.filter(name="sky").update(overrides={"same-answer": {"skip": True}})  # a per-case override
    # 2. A case that must fail: exit 1, one line for the failing case, a JUnit failure with the check's message.
    suite_check_add(
        workflow=qa,
        user=alice,
        name="never",
        kind="contains",
        config={"field": "answer", "value": "zqxj-not-in-any-answer"},
    )
    code, out = _cli("--draft", "--junit", str(junit), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failed" and data["failed"] == 2
    france = next(c for c in data["cases"] if c["name"] == "france")
    assert {c["name"]: c["passed"] for c in france["checks"]}["same-answer"] is True
    failures = ET.parse(junit).getroot().findall(".//failure")  # noqa: S314 - our own report
    assert len(failures) == 2 and all("zqxj-not-in-any-answer" in f.get("message") for f in failures)
    sky = next(c for c in data["cases"] if c["name"] == "sky")
    assert "same-answer" not in {c["name"] for c in sky["checks"]}

    # The grid compares with the previous suite run: both cases regressed.
    second = SuiteRun.objects.order_by("-pk").first()
    names, rows = suite_run_grid(suite_run=second)
    assert names[-1] == "never"
    assert [r.change for r in rows] == ["regression", "regression"]

    # 3. The gate: the draft's suite fails, so publishing is refused; an editor cannot override…
    with pytest.raises(SuiteGateError) as refused:
        workflow_publish(workflow=qa, user=alice, note="v1")
    assert refused.value.code == "suite_failed"
    editor = UserFactory(username="eddie")
    Membership.objects.create(project=qa.project, user=editor, role=Role.EDITOR)
    with pytest.raises(SuiteGateError) as forbidden:
        workflow_publish(workflow=qa, user=editor, note="v1", override_reason="trust me")
    assert forbidden.value.code == "override_forbidden"
    assert not qa.versions.exists()
    # … an owner can, and the reason is in the audit log.
    version = workflow_publish(workflow=qa, user=alice, note="v1", override_reason="known flaky check, fixing")
    assert version.version == 1
    event = AuditEvent.objects.get(verb="workflow.publish_override")
    assert event.data["reason"] == "known flaky check, fixing" and event.data["gate"] == "suite_failed"

    # 4. Fix the suite (drop the impossible check) on a new draft: the API publishes only after a passing run.
    qa.suite.checks.filter(name="never").delete()
    client = Client()
    client.force_login(alice)
    response = client.post(f"/api/v1/workflows/{qa.pk}/publish/", {"note": "v2"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "suite_failed"
    code, out = _cli("--draft")
    assert code == 0, out
    third = SuiteRun.objects.order_by("-pk").first()
    assert [r.change for r in suite_run_grid(suite_run=third)[1]] == ["fix", "fix"]
    response = client.post(f"/api/v1/workflows/{qa.pk}/publish/", {"note": "v2"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2

    # The suite run's page shows the grid.
    page = client.get(f"/suite-runs/{third.pk}/")
    assert page.status_code == 200
    assert b"same-answer" in page.content and word.encode() in page.content


def test_feedback_on_a_run_is_a_human_score_shown_on_the_run_page(qa, alice, local_model, celery_worker_proc):
    code, _ = _cli("--draft")
    assert code == 0
    result = SuiteRun.objects.get().results.get(name="sky")
    assert result.status == CaseStatus.PASSED
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/api/v1/runs/{result.run_id}/feedback",
        {"thumbs": "down", "comment": "too vague"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    score = Score.objects.get(source="human")
    assert (score.name, score.value, score.label, score.comment) == ("thumbs", 0.0, "down", "too vague")
    page = client.get(f"/runs/{result.run_id}/")
    assert b"thumbs: down" in page.content and b"too vague" in page.content
    assert b"answers: pass" in page.content
    assert b"/static/css/evaluations.css" in page.content  # the scores card is laid out by it
    bad = client.post(f"/api/v1/runs/{result.run_id}/feedback", {"thumbs": "sideways"}, content_type="application/json")
    assert bad.status_code == 400


def test_seed_demo_gives_question_answering_a_suite_that_passes(local_model, celery_worker_proc, db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())  # idempotent: the suite is not duplicated
    workflow = Workflow.objects.get(project__slug="demo", slug="question-answering")
    assert workflow.suite.cases.count() == 2 and workflow.suite.checks.count() == 2
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("test_workflow", "question-answering", "--project", "demo", "--draft", stdout=out)
        raise SystemExit(0)
    assert exited.value.code == 0, out.getvalue()
    assert "2 passed, 0 failed" in out.getvalue()
    # The draft passed: it may be published (the gate reads the same suite run).
    assert workflow_publish(workflow=workflow, user=None, note="after the suite").version == 2


def test_the_llm_judge_grades_through_the_gateway_with_its_span_recorded(qa, alice, local_model, celery_worker_proc):
    from prompts.models import Prompt
    from prompts.services import prompt_label_move, prompt_version_commit
    from traces.models import Span

    prompt = Prompt.objects.create(project=qa.project, slug="rubric", name="Rubric")
    rubric = prompt_version_commit(
        prompt=prompt,
        user=alice,
        variables=["inputs", "output"],
        messages=[
            {
                "role": "user",
                "content": "Question: {{ inputs }}\nAnswer: {{ output }}\nDoes the answer address the question?",
            }
        ],
    )
    prompt_label_move(prompt=prompt, label="production", version=rubric, user=alice)
    suite_check_add(
        workflow=qa,
        user=alice,
        name="judge",
        kind="llm_judge",
        config={"prompt": "rubric", "endpoint": "local", "scale": "1-5", "field": "answer"},
    )
    _cli("--draft")
    suite_run = SuiteRun.objects.get()
    for result in suite_run.results.all():
        judged = next(c for c in result.checks if c["name"] == "judge")
        assert judged["value"] in {1.0, 2.0, 3.0, 4.0, 5.0}, judged["message"]
        assert judged["passed"] is (judged["value"] >= 3)
        span = Span.objects.get(run_id=result.run_id, name="judge:rubric")
        assert span.prompt_version_id == rubric.pk and span.input_tokens > 0 and span.output_tokens > 0
        assert "Answer:" in json.dumps(span.input)
        assert Score.objects.filter(run_id=result.run_id, name="judge", value=judged["value"]).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], 'Project "nope" does not exist'),
        (["--project", "acme", "--version", "7"], "has no version 7"),
    ],
)
def test_test_workflow_refuses_bad_arguments_with_exit_2(qa, args, message):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=message) as caught:
        call_command("test_workflow", "question-answering", *args)
    assert caught.value.returncode == 2
