"""``manage.py run_workflow``: the same path as the UI, JSON out, non-zero exit on failure."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.models import Workflow
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def qa_workflow(project, local_endpoint):
    return Workflow.objects.create(project=project, slug="question-answering", name="Question answering",
                                   draft_graph=demo_graph("question-answering"))


@pytest.mark.worker
@pytest.mark.model
def test_run_workflow_prints_the_run_as_json(qa_workflow, local_model, celery_worker_proc):
    out = StringIO()
    call_command("run_workflow", "question-answering", "--project", "acme", "--draft",
                 "--input", '{"question": "What colour is the sky?"}', "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["status"] == "succeeded"
    assert set(data["outputs"]) == {"answer", "confidence"}
    assert isinstance(data["outputs"]["confidence"], float)
    answerer = next(step for step in data["steps"] if step["node"] == "answerer")
    assert answerer["input_tokens"] > 0 and answerer["output_tokens"] > 0
    assert answerer["cost_usd"] == 0.0
    assert data["input_tokens"] >= answerer["input_tokens"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["question-answering", "--project", "nope"], 'Project "nope" does not exist'),
        (["nope", "--project", "acme"], 'Workflow "nope" does not exist'),
        (["question-answering", "--project", "acme", "--draft", "--input", "{not json"], "not valid JSON"),
        (["question-answering", "--project", "acme", "--draft", "--input", '{"question": 3}'], "question"),
        (["question-answering", "--project", "acme", "--draft", "--input", "{}"], "question"),
    ],
)
def test_run_workflow_refuses_bad_arguments_with_exit_2(qa_workflow, args, message):
    with pytest.raises(CommandError, match=message) as caught:
        call_command("run_workflow", *args)
    assert caught.value.returncode == 2
