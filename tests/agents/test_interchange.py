"""JSON/YAML import and export: envelope, secrets, migrations, validation errors with paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from agents.interchange import (
    EXPORT_SCHEMA,
    InterchangeError,
    check_document,
    dump_json,
    dump_yaml,
    export_document,
    import_document,
    parse_document,
)
from agents.models import Workflow
from agents.services import workflows as svc
from studio.models import AuditEvent, Project
from tests.agents.test_workflow_services import research_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(project: Project, alice: Any) -> Workflow:
    graph = research_graph()
    graph["nodes"][1]["config"]["api_key"] = "sk-live-very-secret"
    graph["nodes"][1]["config"]["api_key_secret"] = "OPENAI_KEY"
    return svc.workflow_create(project=project, user=alice, name="Research brief", graph=graph, description="Brief")


def test_export_envelope_is_schema_versioned_and_drops_secret_values(workflow: Workflow) -> None:
    doc = export_document(workflow)
    assert doc["studio_export"] == EXPORT_SCHEMA
    assert doc["kind"] == "workflow"
    assert doc["workflow"]["name"] == "Research brief"
    assert doc["workflow"]["settings"]["max_concurrency"] == workflow.max_concurrency
    config = doc["graph"]["nodes"][1]["config"]
    assert config["api_key"] == ""  # a literal credential never leaves the studio
    assert config["api_key_secret"] == "OPENAI_KEY"  # a reference by name is kept
    assert doc["redacted"] == ["graph.nodes[1].config.api_key"]
    assert "sk-live-very-secret" not in dump_json(doc) + dump_yaml(doc)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_roundtrip_creates_a_new_workflow_with_the_same_graph(
    workflow: Workflow, project: Project, alice: Any, fmt: str
) -> None:
    doc = export_document(workflow)
    text = dump_json(doc) if fmt == "json" else dump_yaml(doc)
    imported, warnings = import_document(project=project, user=alice, text=text, fmt=fmt)
    assert imported.pk != workflow.pk
    assert imported.slug == "research-brief-2"
    assert imported.draft_graph == doc["graph"]
    assert imported.description == "Brief"
    assert isinstance(warnings, list)
    assert AuditEvent.objects.filter(verb="workflow.import", object_id=str(imported.pk)).exists()


def test_yaml_export_is_plain_block_yaml(workflow: Workflow) -> None:
    text = dump_yaml(export_document(workflow))
    assert text.startswith("studio_export: 1\n")
    assert "!!python" not in text
    assert yaml.safe_load(text)["graph"]["schema"] == 1


def test_version_0_bare_graph_is_migrated(project: Project, alice: Any) -> None:
    bare = {**research_graph(), "name": "Old export"}
    workflow, warnings = import_document(project=project, user=alice, text=json.dumps(bare))
    assert workflow.name == "Old export"
    assert any("Migrated from export format 0" in w for w in warnings)


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"studio_export": 1, "kind": "prompt", "workflow": {"name": "x"}, "graph": research_graph()}, "kind"),
        (
            {"studio_export": 1, "kind": "workflow", "workflow": {"name": ""}, "graph": research_graph()},
            "workflow.name",
        ),
        (
            {
                "studio_export": 1,
                "kind": "workflow",
                "workflow": {"name": "x", "settings": {"max_concurrency": 0}},
                "graph": research_graph(),
            },
            "workflow.settings.max_concurrency",
        ),
        (
            {
                "studio_export": 1,
                "kind": "workflow",
                "workflow": {"name": "x"},
                "graph": {
                    "schema": 1,
                    "nodes": [{"id": "a", "type": "input", "position": {"x": "left", "y": 0}}],
                    "edges": [],
                },
            },
            "graph.nodes[0].position",
        ),
        (
            {
                "studio_export": 1,
                "kind": "workflow",
                "workflow": {"name": "x"},
                "graph": {"schema": 7, "nodes": [], "edges": []},
            },
            "graph.schema",
        ),
    ],
)
def test_invalid_documents_name_the_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(InterchangeError) as caught:
        check_document(doc)
    assert path in [error["path"] for error in caught.value.errors]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"a": 1,,}', "json", "Invalid JSON at line 1"),
        ("a: [1, 2\nb: 3\n", "yaml", "Invalid YAML at line"),
        ("!!python/object/apply:os.system ['echo pwned']", "yaml", "Invalid YAML"),
        ("x: &anchor [1]\ny: *anchor\n", "yaml", "anchors and aliases"),
        ("   ", None, "empty"),
    ],
)
def test_parse_errors_are_clear_and_nothing_executes(text: str, fmt: str | None, message: str) -> None:
    with pytest.raises(InterchangeError, match=message):
        parse_document(text, fmt=fmt)


def test_import_never_renders_or_runs_templates(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["nodes"][1]["config"]["template"] = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    doc = {"studio_export": 1, "kind": "workflow", "workflow": {"name": "Sneaky"}, "graph": graph}
    workflow, _warnings = import_document(project=project, user=alice, doc=doc)
    assert workflow.draft_graph["nodes"][1]["config"]["template"].startswith("{{ ''.__class__")  # stored verbatim
    assert not workflow.runs.exists()


def test_unknown_node_types_are_refused(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["nodes"][1]["type"] = "quantum"
    with pytest.raises(InterchangeError) as caught:
        import_document(
            project=project,
            user=alice,
            doc={"studio_export": 1, "kind": "workflow", "workflow": {"name": "Q"}, "graph": graph},
        )
    assert caught.value.errors == [{"path": "graph.nodes[1].type", "message": "unknown node type 'quantum'"}]
    assert not Workflow.objects.filter(name="Q").exists()


def test_settings_survive_the_roundtrip(project: Project, alice: Any) -> None:
    from decimal import Decimal

    original = svc.workflow_create(
        project=project,
        user=alice,
        name="Budgeted",
        graph=research_graph(),
        settings={"max_concurrency": 2, "budget_tokens": 5000, "budget_usd": Decimal("0.25"), "timeout_s": 120},
    )
    copy, _ = import_document(project=project, user=alice, text=dump_yaml(export_document(original)))
    assert (copy.max_concurrency, copy.budget_tokens, copy.budget_usd, copy.timeout_s) == (
        2,
        5000,
        Decimal("0.25"),
        120,
    )
