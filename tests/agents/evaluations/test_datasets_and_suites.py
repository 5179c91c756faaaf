"""Datasets (upload, rows, versions), suites (checks, cases) and their bad inputs — through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents.evaluations.models import Dataset, DatasetRow, Suite
from agents.evaluations.services import (
    EvaluationError,
    dataset_create,
    dataset_rows_add,
    suite_case_add,
    suite_check_add,
    suite_run_start,
)
from agents.models import Workflow
from prompts.models import Prompt
from prompts.services import prompt_label_move, prompt_version_commit
from studio.models import AuditEvent
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def qa(project: Any, local_endpoint: Any) -> Workflow:
    return Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))


@pytest.fixture
def client_alice(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def _dataset(client: Client) -> dict[str, Any]:
    response = client.post(
        "/api/v1/projects/acme/datasets", {"name": "Geography", "workflow": "qa"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_csv_upload_stores_rows_with_expected_values_and_tags(qa, client_alice):
    dataset = _dataset(client_alice)
    csv = b"question,expected.answer,tags\nCapital of France?,Paris,geo;easy\nCapital of Peru?,Lima,geo\n"
    response = client_alice.post(
        f"/api/v1/datasets/{dataset['id']}/upload",
        {"file": SimpleUploadedFile("rows.csv", csv, content_type="text/csv")},
    )
    assert response.status_code == 201, response.content
    body = client_alice.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert [r["inputs"] for r in body["rows"]] == [{"question": "Capital of France?"}, {"question": "Capital of Peru?"}]
    assert body["rows"][0]["expected"] == {"answer": "Paris"}
    assert body["rows"][0]["tags"] == ["geo", "easy"]
    assert AuditEvent.objects.filter(verb="dataset.rows_add", data__rows=2).exists()


def test_csv_whose_columns_do_not_match_the_signature_is_refused_and_nothing_stored(qa, client_alice):
    dataset = _dataset(client_alice)
    csv = b"query,expected.answer\nCapital of France?,Paris\n"
    response = client_alice.post(
        f"/api/v1/datasets/{dataset['id']}/upload",
        {"file": SimpleUploadedFile("rows.csv", csv, content_type="text/csv")},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_columns"
    assert "not an input of the signature (question)" in body["errors"]["query"]
    assert "required input" in body["errors"]["question"]
    assert not DatasetRow.objects.exists()


def test_jsonl_with_one_bad_row_stores_nothing_and_names_the_row(qa, client_alice):
    dataset = _dataset(client_alice)
    jsonl = b'{"question": "Capital of France?"}\n{"inputs": {"question": 42, "extra": 1}}\n'
    response = client_alice.post(
        f"/api/v1/datasets/{dataset['id']}/upload", {"file": SimpleUploadedFile("rows.jsonl", jsonl)}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert body["errors"][0]["row"] == 2 and "extra" in body["errors"][0]["errors"]
    assert not DatasetRow.objects.exists()


def test_a_version_used_by_a_suite_run_never_changes(qa, alice):
    dataset = dataset_create(project=qa.project, user=alice, name="Qs", workflow=qa)
    v1 = dataset_rows_add(dataset=dataset, user=alice, rows=[{"inputs": {"question": "Why?"}}])
    suite_check_add(workflow=qa, user=alice, name="answers", kind="regex", config={"pattern": r"\w"})
    from agents.evaluations.services import suite_cases_from_dataset

    suite_cases_from_dataset(workflow=qa, user=alice, version=v1)
    suite_run_start(workflow=qa, user=alice)
    v1.refresh_from_db()
    assert v1.is_locked
    v2 = dataset_rows_add(dataset=dataset, user=alice, rows=[{"inputs": {"question": "How?"}}])
    assert v2.number == 2
    assert v1.rows.count() == 1 and v2.rows.count() == 2


def test_a_regex_that_does_not_compile_is_a_clear_400(qa, client_alice):
    response = client_alice.put(
        "/api/v1/projects/acme/workflows/qa/suite",
        {
            "cases": [{"name": "one", "inputs": {"question": "Why?"}}],
            "checks": [{"name": "bad", "kind": "regex", "config": {"pattern": "(unclosed"}}],
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_suite"
    assert "not a valid regular expression" in body["errors"][0]["errors"]["pattern"]
    assert not Suite.objects.filter(workflow=qa, checks__isnull=False).exists()


def test_a_judge_prompt_without_the_output_variable_is_refused(qa, alice):
    prompt = Prompt.objects.create(project=qa.project, slug="rubric", name="Rubric")
    version = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Rate {{ text }}"}], variables=["text"]
    )
    prompt_label_move(prompt=prompt, label="production", version=version, user=alice)
    with pytest.raises(EvaluationError) as caught:
        suite_check_add(
            workflow=qa,
            user=alice,
            name="judge",
            kind="llm_judge",
            config={"prompt": "rubric", "endpoint": "local", "scale": "1-5"},
        )
    assert caught.value.code == "invalid_check"
    assert "must use the variable 'output'" in caught.value.errors["prompt"]


def test_a_suite_on_a_workflow_without_an_input_node_is_refused(project, alice, local_endpoint):
    graph = demo_graph("question-answering")
    graph["nodes"] = [n for n in graph["nodes"] if n["type"] != "input"]
    graph["edges"] = [e for e in graph["edges"] if e["source"] != "input"]
    workflow = Workflow.objects.create(project=project, slug="no-input", name="No input", draft_graph=graph)
    with pytest.raises(EvaluationError) as caught:
        suite_case_add(workflow=workflow, user=alice, name="one", inputs={"question": "Why?"})
    assert caught.value.code == "no_input_node"
    assert "no input node" in caught.value.message
    with pytest.raises(EvaluationError):
        dataset_create(project=project, user=alice, name="X", workflow=workflow)
    assert not Dataset.objects.exists()


def test_a_viewer_cannot_add_rows(qa, bob):
    client = Client()
    client.force_login(bob)
    dataset = dataset_create(project=qa.project, user=None, name="Qs", workflow=qa)
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/rows",
        {"rows": [{"inputs": {"question": "Why?"}}]},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not DatasetRow.objects.exists()


def test_the_suite_page_and_api_start_a_replay_run_whose_case_runs_carry_the_mode(qa, alice, client_alice):
    from agents.evaluations.models import SuiteRun
    from agents.models import Run

    suite_check_add(workflow=qa, user=alice, name="answers", kind="regex", config={"pattern": r"\w"})
    suite_case_add(workflow=qa, user=alice, name="why", inputs={"question": "Why?"})
    page = client_alice.get("/p/acme/w/qa/suite/")
    assert page.status_code == 200
    assert b'name="replay"' in page.content and b"replay recordings" in page.content
    response = client_alice.post("/p/acme/w/qa/suite/run/", {"version": "", "replay": "replay"})
    assert response.status_code == 302, response.content
    suite_run = SuiteRun.objects.get()
    assert Run.objects.get(pk=suite_run.results.get().run_id).replay == "replay"
    audit = AuditEvent.objects.filter(verb="suite.run").latest("pk")
    assert audit.data["replay"] == "replay"
    # The API takes the same mode; an unknown one is a 400 and starts nothing.
    api = client_alice.post(
        "/api/v1/projects/acme/workflows/qa/suite/runs", {"replay": "fill"}, content_type="application/json"
    )
    assert api.status_code == 201, api.content
    assert Run.objects.filter(replay="fill").count() == 1
    bad = client_alice.post("/p/acme/w/qa/suite/run/", {"version": "", "replay": "sometimes"})
    assert bad.status_code == 400 and b"replay must be" in bad.content
    bad_api = client_alice.post(
        "/api/v1/projects/acme/workflows/qa/suite/runs", {"replay": "x"}, content_type="application/json"
    )
    assert bad_api.status_code == 400
    assert SuiteRun.objects.count() == 2
    # A normal suite run records: its case runs carry the record mode.
    client_alice.post("/p/acme/w/qa/suite/run/", {"version": ""})
    assert Run.objects.filter(replay="record").count() == 1
