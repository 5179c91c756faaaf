"""Workflow services: create, draft save with conflicts, publish, restore, diff, templates."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from agents.models import Workflow
from agents.services import workflows as svc
from studio.models import AuditEvent, Project

pytestmark = pytest.mark.django_db


def research_graph() -> dict[str, Any]:
    """A small valid graph: input(topic) -> template -> output(brief)."""
    field = {"name": "topic", "type": "str", "description": "What to research"}
    return {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "Input",
                "config": {"fields": [field]},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "tpl",
                "type": "template",
                "label": "Format",
                "config": {"template": "Brief on {{ topic }}", "inputs": [field]},
                "position": {"x": 250, "y": 0},
            },
            {
                "id": "output",
                "type": "output",
                "label": "Output",
                "config": {"fields": [{"name": "brief", "type": "str"}]},
                "position": {"x": 500, "y": 0},
            },
        ],
        "edges": [
            {"id": "e1", "source": "input", "source_port": "topic", "target": "tpl", "target_port": "topic"},
            {"id": "e2", "source": "tpl", "source_port": "text", "target": "output", "target_port": "brief"},
        ],
    }


@pytest.fixture
def workflow(project: Project, alice: Any) -> Workflow:
    return svc.workflow_create(project=project, user=alice, name="Research brief", graph=research_graph())


def test_create_gives_unique_slugs_and_audits(project: Project, alice: Any) -> None:
    first = svc.workflow_create(project=project, user=alice, name="Research brief")
    second = svc.workflow_create(project=project, user=alice, name="Research brief")
    assert (first.slug, second.slug) == ("research-brief", "research-brief-2")
    assert first.draft_graph == {"schema": 1, "nodes": [], "edges": []}
    assert AuditEvent.objects.filter(verb="workflow.create", object_id=str(second.pk)).exists()


def test_draft_save_increments_revision(workflow: Workflow, alice: Any) -> None:
    graph = research_graph()
    graph["nodes"][1]["label"] = "Formatter"
    saved = svc.workflow_draft_save(workflow=workflow, user=alice, graph=graph, base_revision=1)
    assert saved.draft_revision == 2
    workflow.refresh_from_db()
    assert workflow.draft_graph["nodes"][1]["label"] == "Formatter"
    assert AuditEvent.objects.filter(verb="workflow.draft_save", data__revision=2).exists()


def test_stale_draft_save_is_refused_and_nothing_is_overwritten(workflow: Workflow, alice: Any) -> None:
    mine, theirs = research_graph(), research_graph()
    theirs["nodes"][1]["label"] = "Theirs"
    svc.workflow_draft_save(workflow=workflow, user=alice, graph=theirs, base_revision=1)
    mine["nodes"][1]["label"] = "Mine"
    with pytest.raises(svc.DraftConflictError) as caught:
        svc.workflow_draft_save(workflow=workflow, user=alice, graph=mine, base_revision=1)
    assert (caught.value.base_revision, caught.value.current_revision) == (1, 2)
    workflow.refresh_from_db()
    assert workflow.draft_graph["nodes"][1]["label"] == "Theirs"
    assert workflow.draft_revision == 2


def test_incomplete_draft_is_accepted_but_malformed_document_is_not(workflow: Workflow, alice: Any) -> None:
    incomplete = {
        "schema": 1,
        "nodes": [{"id": "a", "type": "llm", "config": {}, "position": {"x": 1, "y": 2}}],
        "edges": [],
    }
    saved = svc.workflow_draft_save(workflow=workflow, user=alice, graph=incomplete, base_revision=1)
    assert saved.draft_revision == 2
    bad = {
        "schema": 1,
        "nodes": [{"id": "a", "type": "llm"}],
        "edges": [{"id": "e", "source": "a", "source_port": "text", "target": "ghost", "target_port": "x"}],
    }
    with pytest.raises(svc.GraphShapeError) as caught:
        svc.workflow_draft_save(workflow=workflow, user=alice, graph=bad, base_revision=2)
    assert [i.code for i in caught.value.issues] == ["dangling_edge"]
    assert caught.value.issues[0].path == "edges[0].target"


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        ([], "not_an_object"),
        ({"schema": 2, "nodes": [], "edges": []}, "bad_schema"),
        ({"schema": 1, "nodes": [{"id": "a b", "type": "x"}], "edges": []}, "bad_node_id"),
        (
            {"schema": 1, "nodes": [{"id": "a", "type": "x"}, {"id": "a", "type": "x"}], "edges": []},
            "duplicate_node_id",
        ),
        (
            {"schema": 1, "nodes": [{"id": "a", "type": "x", "position": {"x": "1", "y": 0}}], "edges": []},
            "bad_position",
        ),
    ],
)
def test_shape_check_names_the_problem(doc: Any, code: str) -> None:
    assert code in [issue.code for issue in svc.check_graph_shape(doc)]


def test_publish_creates_numbered_immutable_versions(workflow: Workflow, alice: Any) -> None:
    v1 = svc.workflow_publish(workflow=workflow, user=alice, note="first")
    v2 = svc.workflow_publish(workflow=workflow, user=alice, note="second")
    assert (v1.version, v2.version, v1.note) == (1, 2, "first")
    assert v1.created_by == alice
    with pytest.raises(ValueError, match="immutable"):
        v1.save()
    assert AuditEvent.objects.filter(verb="workflow.publish", data__version=2).exists()


def test_publish_refuses_an_invalid_graph_with_node_issues(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["edges"][0]["target_port"] = "nope"
    workflow = svc.workflow_create(project=project, user=alice, name="Broken", graph=graph)
    with pytest.raises(svc.GraphNotExecutableError) as caught:
        svc.workflow_publish(workflow=workflow, user=alice, note="x")
    assert caught.value.issues
    assert any(issue.edge_id == "e1" or issue.node_id == "tpl" for issue in caught.value.issues)
    assert not workflow.versions.exists()


def test_publish_with_stale_base_revision_is_a_conflict(workflow: Workflow, alice: Any) -> None:
    svc.workflow_draft_save(workflow=workflow, user=alice, graph=research_graph(), base_revision=1)
    with pytest.raises(svc.DraftConflictError):
        svc.workflow_publish(workflow=workflow, user=alice, note="", base_revision=1)


def test_restore_copies_version_into_draft_and_bumps_revision(workflow: Workflow, alice: Any) -> None:
    version = svc.workflow_publish(workflow=workflow, user=alice, note="good")
    changed = research_graph()
    changed["nodes"].pop(1)
    changed["edges"] = []
    svc.workflow_draft_save(workflow=workflow, user=alice, graph=changed, base_revision=1)
    restored = svc.workflow_restore(workflow=workflow, version=version, user=alice)
    assert restored.draft_revision == 3
    assert restored.draft_graph == version.graph
    assert AuditEvent.objects.filter(verb="workflow.restore", data__version=1).exists()


def test_diff_reports_nodes_edges_and_config_fields() -> None:
    a, b = research_graph(), research_graph()
    b["nodes"][1]["config"]["template"] = "Short brief on {{ topic }}"
    b["nodes"][2]["position"] = {"x": 900, "y": 10}
    b["nodes"].append({"id": "extra", "type": "template", "label": "Extra", "config": {}, "position": {"x": 0, "y": 0}})
    b["edges"].pop(1)
    diff = svc.workflow_version_diff(a, b)
    assert [n["id"] for n in diff["nodes"]["added"]] == ["extra"]
    assert diff["nodes"]["changed"] == [
        {
            "id": "tpl",
            "label": "Format",
            "type": "template",
            "changes": [
                {"path": "config.template", "before": "Brief on {{ topic }}", "after": "Short brief on {{ topic }}"}
            ],
        }
    ]
    assert diff["nodes"]["moved"] == ["output"]
    assert [e["id"] for e in diff["edges"]["removed"]] == ["e2"]
    assert diff["summary"]["identical"] is False
    assert svc.workflow_version_diff(a, a)["summary"]["identical"] is True


def test_templates_are_listed_and_usable(project: Project, alice: Any) -> None:
    templates = svc.workflow_templates()
    if not templates:
        pytest.skip("no templates in agents/workflow_templates yet")
    for template in templates:
        assert template.name and template.description, template.slug
        assert not svc.check_graph_shape(template.graph), template.slug
    workflow = svc.workflow_from_template(
        project=project, user=alice, template_slug=templates[0].slug, name="From template"
    )
    assert workflow.draft_graph["nodes"] == svc.normalize_graph(templates[0].graph)["nodes"]
    with pytest.raises(svc.TemplateNotFoundError):
        svc.workflow_from_template(project=project, user=alice, template_slug="no-such-template", name="x")


def test_every_template_passes_the_engine_check() -> None:
    for template in svc.workflow_templates():
        assert svc.engine_issues(svc.normalize_graph(template.graph), project_id=None) == [], template.slug


def test_graph_ports_reports_fields_and_config_errors() -> None:
    ports = svc.graph_ports(research_graph())
    assert [f["name"] for f in ports["input"]["outputs"]] == ["topic"]
    assert [f["name"] for f in ports["tpl"]["outputs"]] == ["text"]
    broken = svc.node_ports_of({"id": "x", "type": "nope", "config": {}})
    assert broken["error"] and broken["inputs"] == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_on_one_revision_let_exactly_one_win(project: Project, alice: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    workflow = svc.workflow_create(project=project, user=alice, name="Race", graph=research_graph())
    results: list[str] = []

    def save(label: str) -> None:
        graph = research_graph()
        graph["nodes"][1]["label"] = label
        try:
            svc.workflow_draft_save(
                workflow=Workflow.objects.get(pk=workflow.pk), user=alice, graph=graph, base_revision=1
            )
            results.append("ok")
        except svc.DraftConflictError:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(f"writer {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]
    workflow.refresh_from_db()
    assert workflow.draft_revision == 2


def test_diff_ignores_defaults_written_out_by_the_inspector() -> None:
    a, b = research_graph(), research_graph()
    b["nodes"][1]["config"]["inputs"][0] |= {"required": True, "default": None, "choices": [], "items": None}
    b["nodes"][1]["config"]["on_error"] = "fail"
    assert svc.workflow_version_diff(a, b)["nodes"]["changed"] == []
    b["nodes"][1]["config"]["on_error"] = "branch"
    assert [c["path"] for c in svc.workflow_version_diff(a, b)["nodes"]["changed"][0]["changes"]] == ["config.on_error"]


def test_the_canvas_port_rule_matches_the_engine() -> None:
    """static/canvas/adapter.js refuses exactly the connections the engine would refuse."""
    import itertools
    import json as jsonlib
    import shutil
    import subprocess
    from pathlib import Path

    from agents.engine.signature import FieldSpec, is_compatible

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    specs = [{"name": "f", "type": t} for t in ("str", "int", "float", "bool", "object", "list")]
    specs += [{"name": "f", "type": "list", "items": i} for i in ("str", "int", "float")]
    specs += [{"name": "f", "type": "enum", "choices": c} for c in (["a"], ["a", "b"], ["b", "c"])]
    pairs = list(itertools.product(specs, repeat=2))
    adapter = Path(__file__).resolve().parents[2] / "static" / "canvas" / "adapter.js"
    script = (
        "global.window = {}; require(process.argv[1]);"
        "const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(pairs.map(([a, b]) => window.StudioCanvas.compatible(a, b))));"
    )
    result = subprocess.run(
        [node, "-e", script, str(adapter)], input=jsonlib.dumps(pairs), capture_output=True, text=True, check=True
    )
    from_js = jsonlib.loads(result.stdout)
    from_engine = [is_compatible(FieldSpec(**a), FieldSpec(**b)) for a, b in pairs]
    mismatches = [(a, b, js) for (a, b), js, py in zip(pairs, from_js, from_engine, strict=True) if js != py]
    assert mismatches == []
