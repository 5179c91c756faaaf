"""Project variables: typed values, the settings tab and API, audit, and the design-time check
(an unknown ``vars.<name>`` is a validation error naming the node; exports name them, imports tell
which are missing)."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.engine import GraphIssue
from agents.interchange import export_document, import_document
from agents.models import Run
from agents.services import workflows as wf
from agents.services.runs import GraphInvalidError, run_start
from studio.models import AuditEvent, Variable
from studio.workspace import variables as var_svc
from studio.workspace.services import WorkspaceError
from tests.agents.test_workflow_services import research_graph

pytestmark = pytest.mark.django_db


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


def graph_reading(template: str) -> dict[str, Any]:
    graph = research_graph()
    graph["nodes"][1]["config"]["template"] = template
    return graph


# ------------------------------------------------------------------ services


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("str", "https://api.example.com", "https://api.example.com"),
        ("int", 42, 42),
        ("float", 3, 3.0),
        ("float", 0.75, 0.75),
        ("bool", False, False),
        ("object", {"team": "search", "n": [1, 2]}, {"team": "search", "n": [1, 2]}),
    ],
)
def test_values_are_stored_with_their_type(project, alice, kind, value, stored):
    variable = var_svc.variable_create(project=project, actor=alice, name="v", type=kind, value=value)
    variable.refresh_from_db()
    assert variable.value == stored and type(variable.value) is type(stored)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("int", "3", "whole number"),
        ("int", True, "whole number"),
        ("int", 2**70, "too large"),
        ("float", "0.5", "number"),
        ("bool", "true", "true or false"),
        ("bool", 1, "true or false"),
        ("object", [1, 2], "JSON object"),
        ("object", "{}", "JSON object"),
        ("str", 5, "text"),
        ("str", "x" * 10_001, "10,000"),
        ("object", {"k": "x" * 70_000}, "64 KiB"),
        ("list", [], "Choose a type"),
    ],
)
def test_values_of_the_wrong_type_are_refused_and_nothing_is_stored(project, alice, kind, value, message):
    with pytest.raises(WorkspaceError, match=message) as info:
        var_svc.variable_create(project=project, actor=alice, name="v", type=kind, value=value)
    assert info.value.field in ("value", "type")
    assert not Variable.objects.exists() and not AuditEvent.objects.filter(verb__startswith="variable.").exists()


@pytest.mark.parametrize(
    ("kind", "text", "stored"),
    [
        ("int", " 42 ", 42),
        ("float", "0.5", 0.5),
        ("bool", "Yes", True),
        ("bool", "off", False),
        ("object", '{"a": 1}', {"a": 1}),
        ("str", "  kept as typed ", "  kept as typed "),
    ],
)
def test_form_text_is_parsed_by_type(project, alice, kind, text, stored):
    variable = var_svc.variable_create(project=project, actor=alice, name="v", type=kind, value=text, text=True)
    assert variable.value == stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "letters, digits"),
        ("1st", "letters, digits"),
        ("a-b", "letters, digits"),
        ("x" * 65, "letters, digits"),
        ("items", "reserved"),
        ("keys", "reserved"),
        ("true", "reserved"),
        ("class", "reserved"),
        ("in", "reserved"),
    ],
)
def test_names_must_be_readable_as_vars_dot_name(project, alice, name, message):
    with pytest.raises(WorkspaceError, match=message) as info:
        var_svc.variable_create(project=project, actor=alice, name=name, type="str", value="x")
    assert info.value.field == "name"


def test_duplicate_names_are_refused_in_any_case(project, alice):
    var_svc.variable_create(project=project, actor=alice, name="api_base", type="str", value="a")
    with pytest.raises(WorkspaceError, match="already exists") as info:
        var_svc.variable_create(project=project, actor=alice, name="API_BASE", type="str", value="b")
    assert info.value.code == "duplicate"
    assert Variable.objects.count() == 1


def test_every_change_is_audited_with_before_and_after(project, alice):
    variable = var_svc.variable_create(project=project, actor=alice, name="limit", type="int", value=3)
    var_svc.variable_update(variable=variable, actor=alice, value=3)  # no change: no event
    var_svc.variable_update(variable=variable, actor=alice, type="float", value=3.5)
    with pytest.raises(WorkspaceError, match="not of type bool"):
        var_svc.variable_update(variable=variable, actor=alice, type="bool")
    var_svc.variable_delete(variable=Variable.objects.get(pk=variable.pk), actor=alice)
    events = list(AuditEvent.objects.filter(verb__startswith="variable.").order_by("pk"))
    assert [e.verb for e in events] == ["variable.create", "variable.update", "variable.delete"]
    assert all(e.actor == alice and e.project == project for e in events[:2])
    assert events[0].data == {"name": "limit", "type": "int", "value": 3}
    assert events[1].data["fields"] == ["type", "value"]
    assert (events[1].data["from_value"], events[1].data["to_value"]) == (3, 3.5)


# ------------------------------------------------------------------ design time


def test_an_unknown_variable_is_a_validation_error_naming_the_node(project, alice):
    workflow = wf.workflow_create(
        project=project, user=alice, name="Uses vars", graph=graph_reading("Brief on {{ topic }} for {{ vars.team }}")
    )
    issues = wf.engine_issues(workflow.draft_graph, project_id=project.pk)
    assert [(i.code, i.node_id) for i in issues] == [("unknown_variable", "tpl")]
    assert 'Node "Format" (tpl): the project has no variable "team" (template)' in issues[0].message

    response = Client()
    response.force_login(alice)
    body = response.post(
        f"/api/v1/workflows/{workflow.pk}/validate/", data="{}", content_type="application/json"
    ).json()
    assert body["valid"] is False and body["issues"][0]["node_id"] == "tpl"
    published = response.post(f"/api/v1/workflows/{workflow.pk}/publish/", data="{}", content_type="application/json")
    assert published.status_code == 400 and published.json()["errors"][0]["code"] == "unknown_variable"
    with pytest.raises(GraphInvalidError) as refused:
        run_start(workflow=workflow, user=alice, inputs={"topic": "bees"})
    assert [i.code for i in refused.value.issues] == ["unknown_variable"]
    assert isinstance(refused.value.issues[0], GraphIssue) and not Run.objects.exists()

    var_svc.variable_create(project=project, actor=alice, name="team", type="str", value="Search")
    assert wf.engine_issues(workflow.draft_graph, project_id=project.pk) == []
    assert (
        response.post(
            f"/api/v1/workflows/{workflow.pk}/publish/", data="{}", content_type="application/json"
        ).status_code
        == 201
    )


def test_a_variable_read_by_a_workflow_cannot_be_deleted(project, alice, login):
    variable = var_svc.variable_create(project=project, actor=alice, name="team", type="str", value="Search")
    wf.workflow_create(project=project, user=alice, name="Uses vars", graph=graph_reading("{{ vars.team }}"))
    with pytest.raises(WorkspaceError, match="read by workflow Uses vars") as info:
        var_svc.variable_delete(variable=variable, actor=alice)
    assert info.value.code == "in_use"
    refused = login(alice).delete(reverse("api-variable", args=["acme", "team"]))
    assert refused.status_code == 409 and refused.json()["code"] == "in_use"
    assert Variable.objects.filter(pk=variable.pk).exists()


def test_export_names_the_variables_and_import_tells_which_are_missing(project, alice):
    var_svc.variable_create(project=project, actor=alice, name="team", type="str", value="Search")
    var_svc.variable_create(project=project, actor=alice, name="region", type="str", value="eu")
    workflow = wf.workflow_create(
        project=project,
        user=alice,
        name="Uses vars",
        graph=graph_reading("{{ vars.team }} in {{ vars['region'] }}: {{ topic }}"),
    )
    doc = export_document(workflow)
    assert doc["variables"] == ["region", "team"]
    assert "Search" not in json.dumps(doc) and '"eu"' not in json.dumps(doc)  # names only, never values

    Variable.objects.filter(name="region").delete()
    imported, warnings = import_document(project=project, user=alice, doc=doc, name="Copy")
    assert "Missing project variables (add them under Settings → Variables): region." in warnings
    assert any("unknown" not in w and 'no variable "region"' in w for w in warnings)
    assert imported.draft_graph["nodes"][1]["config"]["template"].startswith("{{ vars.team }}")


# ------------------------------------------------------------------ API


def test_api_creates_lists_changes_and_deletes(project, alice, bob, login):
    client = login(alice)
    url = reverse("api-variables", args=["acme"])
    created = client.post(
        url,
        {"name": "threshold", "type": "float", "value": 0.5, "description": "min score"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["value"] == 0.5 and created.json()["created_by"] == "alice"
    listed = login(bob).get(url)  # a viewer reads them
    assert listed.status_code == 200 and [v["name"] for v in listed.json()] == ["threshold"]
    one = reverse("api-variable", args=["acme", "threshold"])
    assert login(bob).patch(one, {"value": 1}, content_type="application/json").status_code == 403
    changed = client.patch(one, {"value": 0.8}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["value"] == 0.8
    wrong = client.patch(one, {"type": "int"}, content_type="application/json")
    assert wrong.status_code == 400 and "value" in wrong.json()["errors"]
    assert client.delete(one).status_code == 204
    assert client.get(one).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n", "type": "int", "value": "3"}, "value"),
        ({"name": "n", "type": "bool", "value": None}, "value"),
        ({"name": "n", "type": "str"}, "value"),
        ({"name": "bad name", "type": "str", "value": "x"}, "name"),
        ({"name": "n", "type": "tuple", "value": "x"}, "type"),
    ],
)
def test_api_bad_input_is_a_400_naming_the_field(project, alice, login, body, field):
    response = login(alice).post(reverse("api-variables", args=["acme"]), body, content_type="application/json")
    assert response.status_code == 400 and field in response.json().get("errors", {}), response.json()
    assert not Variable.objects.exists()


def test_api_duplicate_is_a_400_duplicate(project, alice, login):
    url = reverse("api-variables", args=["acme"])
    assert (
        login(alice).post(url, {"name": "a", "type": "str", "value": "x"}, content_type="application/json").status_code
        == 201
    )
    again = login(alice).post(url, {"name": "A", "type": "int", "value": 1}, content_type="application/json")
    assert again.status_code == 400 and again.json()["code"] == "duplicate"


# ------------------------------------------------------------------ page


def test_page_creates_edits_and_deletes_with_inline_errors(project, alice, login):
    client = login(alice)
    url = reverse("project-variables", args=["acme"])
    empty = client.get(url)
    assert empty.status_code == 200 and "No variables yet" in page_text(empty)
    bad = client.post(url, {"name": "limit", "type": "int", "value": "ten"})
    assert bad.status_code == 400 and "Enter a whole number, like 42." in page_text(bad)
    assert 'value="limit"' in page_text(bad) and not Variable.objects.exists()
    done = client.post(url, {"name": "limit", "type": "int", "value": "10", "description": "max items"}, follow=True)
    assert "Variable limit saved: use it as {{ vars.limit }}." in page_text(done)
    assert "max items" in page_text(done) and Variable.objects.get().value == 10
    edit = reverse("variable-edit", args=["acme", "limit"])
    refused = client.post(edit, {"type": "object", "value": "[1]", "description": ""})
    assert refused.status_code == 400 and "Enter a JSON object" in page_text(refused)
    assert client.post(edit, {"type": "object", "value": '{"a": 1}', "description": ""}).status_code == 302
    assert Variable.objects.get().value == {"a": 1}
    listing = page_text(client.get(url))
    assert '{"a": 1}' in listing and "unused" in listing
    assert client.post(reverse("variable-delete", args=["acme", "limit"])).status_code == 302
    assert not Variable.objects.exists()


def test_page_is_for_admins_and_owners(project, bob, erin, dave, login):
    url = reverse("project-variables", args=["acme"])
    assert login(bob).get(url).status_code == 403
    assert login(erin).post(url, {"name": "a", "type": "str", "value": "x"}).status_code == 403
    assert login(dave).post(url, {"name": "a", "type": "str", "value": "x"}).status_code == 302
    assert Variable.objects.get().created_by == dave


def test_an_exported_python_script_reads_the_variables_with_their_values(project, alice, tmp_path):
    import subprocess
    import sys

    from agents.export_python import export_python

    var_svc.variable_create(project=project, actor=alice, name="team", type="object", value={"name": "Search"})
    var_svc.variable_create(project=project, actor=alice, name="unused", type="str", value="not exported")
    workflow = wf.workflow_create(
        project=project, user=alice, name="Uses vars", graph=graph_reading("{{ vars.team.name }}: {{ topic }}")
    )
    source = export_python(workflow=workflow)
    assert "not exported" not in source
    script = tmp_path / "uses_vars.py"
    script.write_text(source)
    done = subprocess.run(
        [sys.executable, str(script), "--input", json.dumps({"topic": "tides"})],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"brief": "Search: tides"}
