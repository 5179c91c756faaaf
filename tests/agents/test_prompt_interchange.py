"""Prompts travel with a workflow's export (agents.services.prompt_interchange) and into exported scripts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agents.export_python import export_python
from agents.interchange import InterchangeError, dump_yaml, export_document, import_document, parse_document
from agents.management.commands.seed_demo import BRIEF_VARIABLES, BRIEF_WRITER_V1, BRIEF_WRITER_V2
from agents.models import Workflow
from agents.services import workflows as svc
from prompts.models import Prompt, PromptLabel
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from studio.models import Membership, Project, Role
from tests.conftest import ProjectFactory, demo_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def brief(project: Project, alice: Any, seeded_prompt: Any) -> Workflow:
    """The demo research brief, whose writer uses brief-writer@production (→ v2)."""
    return svc.workflow_create(project=project, user=alice, name="Research brief", graph=demo_graph("research-brief"))


@pytest.fixture
def elsewhere(alice: Any) -> Project:
    """Another project where alice is only an editor (she may not move ``production`` there)."""
    other = ProjectFactory(slug="beta", name="Beta")
    Membership.objects.create(project=other, user=alice, role=Role.EDITOR)
    return other


def _roundtrip(doc: dict[str, Any]) -> dict[str, Any]:
    return parse_document(dump_yaml(doc), fmt="yaml")


def test_export_carries_the_version_the_label_points_at(brief: Workflow) -> None:
    doc = _roundtrip(export_document(brief))
    (entry,) = doc["prompts"]
    assert (entry["slug"], entry["label"], entry["version"], entry["exported_version"]) == (
        "brief-writer",
        "production",
        None,
        2,
    )
    assert entry["messages"] == BRIEF_WRITER_V2
    assert [v["name"] for v in entry["variables"]] == BRIEF_VARIABLES
    assert entry["variables"][0]["type"] == "str"


def test_import_into_another_project_creates_the_prompt_and_its_label(brief, alice, elsewhere) -> None:
    workflow, warnings = import_document(project=elsewhere, user=alice, doc=_roundtrip(export_document(brief)))

    prompt = Prompt.objects.get(project=elsewhere, slug="brief-writer")
    (version,) = prompt.versions.all()
    assert version.messages == BRIEF_WRITER_V2 and version.variables == BRIEF_VARIABLES
    assert 'Imported with the import of workflow "Research brief" from project acme' in version.commit_message
    # A new prompt: its production label is created although alice is only an editor here.
    assert PromptLabel.objects.get(prompt=prompt, name="production").version == version
    assert not [w for w in warnings if "prompt" in w.lower()], warnings
    assert svc.engine_issues(workflow.draft_graph, project_id=elsewhere.pk) == []


def test_import_where_the_label_already_has_that_text_reuses_it(brief, alice, project, seeded_prompt) -> None:
    before = seeded_prompt.versions.count()
    workflow, warnings = import_document(project=project, user=alice, doc=_roundtrip(export_document(brief)))
    assert seeded_prompt.versions.count() == before
    assert workflow.draft_graph == brief.draft_graph
    assert not [w for w in warnings if "prompt" in w.lower()], warnings


def test_import_with_different_text_commits_a_version_and_leaves_the_label(brief, alice, elsewhere) -> None:
    existing = prompt_create(project=elsewhere, user=alice, name="Brief writer", slug="brief-writer")
    v1 = prompt_version_commit(prompt=existing, user=alice, messages=BRIEF_WRITER_V1, variables=BRIEF_VARIABLES)
    prompt_label_move(prompt=existing, label="production", version=v1, user=None)

    _, warnings = import_document(project=elsewhere, user=alice, doc=_roundtrip(export_document(brief)))

    assert [v.version for v in existing.versions.order_by("version")] == [1, 2]
    assert existing.versions.get(version=2).messages == BRIEF_WRITER_V2
    assert PromptLabel.objects.get(prompt=existing, name="production").version == v1  # not moved
    assert any('label "production" still points at version 1' in w and "version 2" in w for w in warnings), warnings


def test_a_pinned_version_is_repointed_at_the_imported_text(project, alice, seeded_prompt, elsewhere) -> None:
    graph = demo_graph("research-brief")
    writer = next(n for n in graph["nodes"] if n["id"] == "writer")
    writer["config"]["prompt"] = {"slug": "brief-writer", "version": 1}
    source = svc.workflow_create(project=project, user=alice, name="Pinned", graph=graph)
    target = prompt_create(project=elsewhere, user=alice, name="Brief writer", slug="brief-writer")
    prompt_version_commit(prompt=target, user=alice, messages=BRIEF_WRITER_V2, variables=BRIEF_VARIABLES)

    workflow, warnings = import_document(project=elsewhere, user=alice, doc=_roundtrip(export_document(source)))

    pinned = next(n for n in workflow.draft_graph["nodes"] if n["id"] == "writer")["config"]["prompt"]
    assert pinned == {"slug": "brief-writer", "version": 2}
    assert target.versions.get(version=2).messages == BRIEF_WRITER_V1
    assert any("pinned version 1 is version 2 here" in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda e: e["messages"][1].update(content="Topic: {{ topic "), "prompts[0].messages[1].content"),
        (lambda e: e.update(label="Not A Label"), "prompts[0].label"),
        (lambda e: e.update(slug="../x"), "prompts[0].slug"),
        (lambda e: e["variables"].pop(), "prompts[0].variables"),
    ],
)
def test_a_bad_prompt_entry_refuses_the_import_and_stores_nothing(brief, alice, elsewhere, mutate, path) -> None:
    doc = copy.deepcopy(export_document(brief))
    mutate(doc["prompts"][0])
    with pytest.raises(InterchangeError) as caught:
        import_document(project=elsewhere, user=alice, doc=doc)
    assert caught.value.errors[0]["path"] == path, caught.value.errors
    assert not Workflow.objects.filter(project=elsewhere).exists()
    assert not Prompt.objects.filter(project=elsewhere).exists()


def test_exported_python_carries_the_text_the_label_pointed_at(brief, alice, seeded_prompt) -> None:
    script = export_python(workflow=brief)
    assert "brief-writer@production (v2)" in script
    assert "You write short, clear research briefs for busy readers." in script
    assert "You write research briefs." not in script

    prompt_label_move(
        prompt=seeded_prompt, label="production", version=seeded_prompt.versions.get(version=1), user=alice
    )
    again = export_python(workflow=brief)
    assert "brief-writer@production (v1)" in again and "'content': 'You write research briefs.'" in again
