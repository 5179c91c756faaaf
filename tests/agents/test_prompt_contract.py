"""The node ↔ prompt contract: validate/publish refuse a node that does not provide its prompt's variables,
and a label move that would break a published workflow is refused (agents.services.prompt_contract)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Workflow
from agents.services import workflows as svc
from prompts.models import Prompt, PromptLabel, PromptLabelMove
from prompts.services import PromptContractError, prompt_create, prompt_label_move, prompt_version_commit

pytestmark = pytest.mark.django_db


def _field(name: str, type_: str = "str") -> dict[str, Any]:
    return {"name": name, "type": type_, "description": name, "required": True}


def _graph(prompt_ref: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """input(inputs) → llm "Writer" using ``prompt_ref`` with ``inputs`` → output(text)."""
    return {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "In",
                "position": {"x": 0, "y": 0},
                "config": {"fields": [_field(n) for n in inputs]},
            },
            {
                "id": "writer",
                "type": "llm",
                "label": "Writer",
                "position": {"x": 200, "y": 0},
                "config": {"endpoint": "local", "prompt": prompt_ref, "inputs": [_field(n) for n in inputs]},
            },
            {
                "id": "output",
                "type": "output",
                "label": "Out",
                "position": {"x": 400, "y": 0},
                "config": {"fields": [_field("text")]},
            },
        ],
        "edges": [
            *(
                {"id": f"e-{n}", "source": "input", "source_port": n, "target": "writer", "target_port": n}
                for n in inputs
            ),
            {"id": "eo", "source": "writer", "source_port": "text", "target": "output", "target_port": "text"},
        ],
    }


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def greeting(project: Any, alice: Any) -> Prompt:
    """v1 needs ``name``; v2 needs ``name`` and ``tone``; production → v1."""
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hi {{ name }}"}], variables=["name"]
    )
    prompt_version_commit(
        prompt=prompt,
        user=alice,
        messages=[{"role": "user", "content": "Hi {{ name }}, in a {{ tone }} tone"}],
        variables=["name", "tone"],
    )
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt


def test_validate_names_the_node_and_the_missing_variables(project, alice, greeting) -> None:
    workflow = svc.workflow_create(
        project=project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "label": "staging"}, ["name"])
    )
    prompt_label_move(prompt=greeting, label="staging", version=greeting.versions.get(version=2), user=alice)

    body = (
        _client(alice)
        .post(f"/api/v1/workflows/{workflow.pk}/validate/", data="{}", content_type="application/json")
        .json()
    )

    assert body["valid"] is False
    (issue,) = body["issues"]
    assert issue["code"] == "prompt_variables_missing" and issue["node_id"] == "writer"
    assert issue["path"] == "nodes[1].config.prompt"
    assert 'Node "Writer" does not provide the variable(s) tone that' in issue["message"]
    assert '"greeting" v2 (label "staging")' in issue["message"]


def test_a_node_that_provides_every_variable_is_valid_by_label_or_pinned_version(project, alice, greeting) -> None:
    ok_label = _graph({"slug": "greeting", "label": "production"}, ["name"])
    ok_pinned = _graph({"slug": "greeting", "version": 2}, ["name", "tone"])
    bad_pinned = _graph({"slug": "greeting", "version": 2}, ["name"])
    assert svc.engine_issues(ok_label, project_id=project.pk) == []
    assert svc.engine_issues(ok_pinned, project_id=project.pk) == []
    assert [i.code for i in svc.engine_issues(bad_pinned, project_id=project.pk)] == ["prompt_variables_missing"]


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ({"slug": "nope", "label": "production"}, 'Prompt "nope" does not exist'),
        ({"slug": "greeting", "label": "canary"}, 'no label "canary"'),
        ({"slug": "greeting", "version": 9}, "no version 9"),
    ],
)
def test_a_missing_prompt_label_or_version_is_an_issue_before_any_run(project, greeting, ref, needle) -> None:
    (issue,) = svc.engine_issues(_graph(ref, ["name"]), project_id=project.pk)
    assert issue.code == "prompt_not_found" and issue.node_id == "writer"
    assert needle in issue.message and 'Node "Writer"' in issue.message


def test_publish_is_refused_and_stores_no_version(project, alice, greeting) -> None:
    workflow = svc.workflow_create(
        project=project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "version": 2}, ["name"])
    )
    with pytest.raises(svc.GraphNotExecutableError) as caught:
        svc.workflow_publish(workflow=workflow, user=alice)
    assert [(i.code, i.node_id) for i in caught.value.issues] == [("prompt_variables_missing", "writer")]
    assert not workflow.versions.exists()


def test_a_label_move_that_breaks_a_published_workflow_is_refused_listing_it(project, alice, greeting) -> None:
    workflow = svc.workflow_create(
        project=project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "label": "production"}, ["name"])
    )
    svc.workflow_publish(workflow=workflow, user=alice)
    moves_before = PromptLabelMove.objects.count()

    response = _client(alice).put(
        "/api/v1/projects/acme/prompts/greeting/labels/production",
        data=json.dumps({"version": 2}),
        content_type="application/json",
    )

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "label_breaks_workflows"
    assert 'workflow "Greet" v1, node "Writer" (writer) lacks tone' in body["detail"]
    assert body["errors"]["affected"] == [
        {
            "workflow_id": workflow.pk,
            "workflow": "Greet",
            "workflow_version": 1,
            "node_id": "writer",
            "node": "Writer",
            "missing": ["tone"],
            "mistyped": [],
            "text": 'workflow "Greet" v1, node "Writer" (writer) lacks tone',
        }
    ]
    assert PromptLabel.objects.get(prompt=greeting, name="production").version.version == 1
    assert PromptLabelMove.objects.count() == moves_before


def test_only_published_uses_of_that_label_block_a_move(project, alice, greeting) -> None:
    v2 = greeting.versions.get(version=2)
    # A draft that would break, and an older published version that would: neither blocks.
    svc.workflow_create(
        project=project,
        user=alice,
        name="Draft only",
        graph=_graph({"slug": "greeting", "label": "production"}, ["name"]),
    )
    other = svc.workflow_create(
        project=project,
        user=alice,
        name="Updated user",
        graph=_graph({"slug": "greeting", "label": "production"}, ["name"]),
    )
    svc.workflow_publish(workflow=other, user=alice)
    other.draft_graph = _graph({"slug": "greeting", "label": "production"}, ["name", "tone"])
    other.save()
    svc.workflow_publish(workflow=other, user=alice)  # its latest version provides tone

    moved = prompt_label_move(prompt=greeting, label="production", version=v2, user=alice)
    assert moved.version == v2


def test_a_refused_move_raises_for_the_system_user_too(project, alice, greeting) -> None:
    workflow = svc.workflow_create(
        project=project, user=alice, name="Greet", graph=_graph({"slug": "greeting", "label": "production"}, ["name"])
    )
    svc.workflow_publish(workflow=workflow, user=alice)
    with pytest.raises(PromptContractError) as caught:
        prompt_label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), user=None)
    assert caught.value.affected[0]["missing"] == ["tone"]
    assert Workflow.objects.filter(pk=workflow.pk).exists()


@pytest.fixture
def counter(project: Any, alice: Any) -> Prompt:
    """v1 needs ``count: float``; v2 needs ``count: int``; production → v1."""
    prompt = prompt_create(project=project, user=alice, name="Counter")
    content = [{"role": "user", "content": "Count to {{ count }}"}]
    v1 = prompt_version_commit(
        prompt=prompt, user=alice, messages=content, variables=[{"name": "count", "type": "float"}]
    )
    prompt_version_commit(prompt=prompt, user=alice, messages=content, variables=[{"name": "count", "type": "int"}])
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt


def _typed_graph(ref: dict[str, Any], type_: str) -> dict[str, Any]:
    graph = _graph(ref, ["count"])
    for node in graph["nodes"][:2]:
        key = "fields" if node["type"] == "input" else "inputs"
        node["config"][key] = [_field("count", type_)]
    return graph


@pytest.mark.parametrize(
    ("version", "node_type", "problem"),
    [
        (1, "int", None),  # int fits float
        (1, "float", None),
        (2, "int", None),
        (2, "float", "count (float, needs int)"),
        (2, "str", "count (str, needs int)"),
    ],
)
def test_an_input_of_the_wrong_type_is_an_issue_naming_both_types(project, counter, version, node_type, problem):
    issues = svc.engine_issues(_typed_graph({"slug": "counter", "version": version}, node_type), project_id=project.pk)
    if problem is None:
        assert issues == []
    else:
        (issue,) = issues
        assert issue.code == "prompt_variable_mistyped" and issue.node_id == "writer"
        assert problem in issue.message and f'"counter" v{version} (version {version})' in issue.message


def test_a_label_move_to_a_version_whose_types_a_published_node_does_not_fit_is_refused(project, alice, counter):
    workflow = svc.workflow_create(
        project=project,
        user=alice,
        name="Count",
        graph=_typed_graph({"slug": "counter", "label": "production"}, "float"),
    )
    svc.workflow_publish(workflow=workflow, user=alice)
    with pytest.raises(PromptContractError) as caught:
        prompt_label_move(prompt=counter, label="production", version=counter.versions.get(version=2), user=alice)
    (affected,) = caught.value.affected
    assert affected["missing"] == [] and affected["mistyped"] == ["count (float, needs int)"]
    assert 'node "Writer" (writer) gives count (float, needs int)' in caught.value.message
    assert PromptLabel.objects.get(prompt=counter, name="production").version.version == 1
