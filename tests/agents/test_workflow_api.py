"""Workflow REST API: access per persona, drafts and conflicts, publish, versions, diff, import/export."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from django.test import Client

from agents.models import Workflow
from agents.services import workflows as svc
from studio.models import ApiKey, Project, Role
from tests.agents.test_workflow_services import research_graph

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def workflow(project: Project, alice: Any) -> Workflow:
    return svc.workflow_create(project=project, user=alice, name="Research brief", graph=research_graph())


def put_json(client: Client, url: str, body: Any) -> Any:
    return client.put(url, data=json.dumps(body), content_type="application/json")


def post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_anonymous_is_refused(workflow: Workflow) -> None:
    assert Client().get(f"/api/v1/workflows/{workflow.pk}/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/workflows/{pk}/"),
        ("get", "/api/v1/workflows/{pk}/versions/"),
        ("get", "/api/v1/workflows/{pk}/export/?format=yaml"),
        ("get", "/api/v1/workflows/{pk}/diff/?a=draft&b=draft"),
        ("post", "/api/v1/workflows/{pk}/validate/"),
        ("post", "/api/v1/workflows/{pk}/publish/"),
        ("put", "/api/v1/workflows/{pk}/draft/"),
        ("get", "/api/v1/projects/acme/workflows/"),
    ],
)
def test_charlie_without_access_gets_404_everywhere(workflow: Workflow, charlie: Any, method: str, url: str) -> None:
    client = client_for(charlie)
    target = url.format(pk=workflow.pk)
    if method == "get":
        response = client.get(target)
    else:
        response = getattr(client, method)(target, data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_bob_the_viewer_reads_but_cannot_write(workflow: Workflow, bob: Any) -> None:
    client = client_for(bob)
    detail = client.get(f"/api/v1/workflows/{workflow.pk}/")
    assert detail.status_code == 200
    assert detail.json()["draft_revision"] == 1
    saved = put_json(client, f"/api/v1/workflows/{workflow.pk}/draft/", {"graph": research_graph(), "base_revision": 1})
    assert saved.status_code == 403
    assert saved.json()["code"] == "permission_denied"
    assert post_json(client, f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "x"}).status_code == 403
    assert post_json(client, "/api/v1/projects/acme/workflows/", {"name": "Nope"}).status_code == 403


def test_list_is_scoped_to_visible_workflows(workflow: Workflow, alice: Any, charlie: Any) -> None:
    other = Project.objects.create(slug="other", name="Other")
    svc.workflow_create(project=other, user=None, name="Secret flow")
    names = [w["name"] for w in client_for(alice).get("/api/v1/projects/acme/workflows/").json()]
    assert names == ["Research brief"]
    assert client_for(alice).get("/api/v1/projects/other/workflows/").status_code == 404


def test_detail_includes_draft_revision_and_ports(workflow: Workflow, alice: Any) -> None:
    body = client_for(alice).get(f"/api/v1/workflows/{workflow.pk}/").json()
    assert body["draft_graph"]["nodes"][0]["id"] == "input"
    assert [f["name"] for f in body["ports"]["tpl"]["inputs"]] == ["topic"]
    assert body["editor_url"] == "/p/acme/w/research-brief/edit/"


def test_draft_save_then_stale_save_gets_409_with_current_state(workflow: Workflow, alice: Any) -> None:
    client = client_for(alice)
    url = f"/api/v1/workflows/{workflow.pk}/draft/"
    graph = research_graph()
    first = put_json(client, url, {"graph": graph, "base_revision": 1})
    assert first.status_code == 200
    assert first.json()["draft_revision"] == 2
    graph["nodes"][1]["label"] = "Stale"
    stale = put_json(client, url, {"graph": graph, "base_revision": 1})
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "draft_conflict"
    assert body["errors"]["current_revision"] == 2
    assert body["errors"]["current_graph"]["nodes"][1]["label"] == "Format"
    workflow.refresh_from_db()
    assert workflow.draft_graph["nodes"][1]["label"] == "Format"


def test_malformed_draft_is_400_with_paths(workflow: Workflow, alice: Any) -> None:
    response = put_json(
        client_for(alice),
        f"/api/v1/workflows/{workflow.pk}/draft/",
        {"graph": {"schema": 1, "nodes": [{"id": "a"}], "edges": []}, "base_revision": 1},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_graph"
    assert body["errors"][0]["path"] == "nodes[0].type"


def test_validate_returns_engine_issues(workflow: Workflow, alice: Any) -> None:
    graph = research_graph()
    graph["edges"][1]["target_port"] = "missing"
    body = post_json(client_for(alice), f"/api/v1/workflows/{workflow.pk}/validate/", {"graph": graph}).json()
    assert body["valid"] is False
    assert any(issue["edge_id"] == "e2" for issue in body["issues"])
    assert post_json(client_for(alice), f"/api/v1/workflows/{workflow.pk}/validate/", {}).json() == {
        "valid": True,
        "issues": [],
    }


def test_publish_invalid_graph_is_400_with_node_issues(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["nodes"][1]["config"]["template"] = "{{ nope }}"
    workflow = svc.workflow_create(project=project, user=alice, name="Broken", graph=graph)
    response = post_json(client_for(alice), f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "try"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "graph_not_executable"
    assert any(issue["node_id"] == "tpl" for issue in body["errors"])


def test_publish_versions_diff_restore(workflow: Workflow, alice: Any) -> None:
    client = client_for(alice)
    published = post_json(client, f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "first cut"})
    assert published.status_code == 201
    assert published.json() | {"created_at": None} == {
        "version": 1,
        "note": "first cut",
        "created_by": "alice",
        "created_at": None,
    }
    graph = research_graph()
    graph["nodes"][1]["config"]["template"] = "Changed {{ topic }}"
    put_json(client, f"/api/v1/workflows/{workflow.pk}/draft/", {"graph": graph, "base_revision": 1})
    diff = client.get(f"/api/v1/workflows/{workflow.pk}/diff/?a=1&b=draft").json()
    assert diff["nodes"]["changed"][0]["changes"][0]["path"] == "config.template"
    versions = client.get(f"/api/v1/workflows/{workflow.pk}/versions/").json()
    assert [v["version"] for v in versions] == [1]
    assert (
        client.get(f"/api/v1/workflows/{workflow.pk}/versions/1/").json()["graph"]["nodes"][1]["config"]["template"]
        == "Brief on {{ topic }}"
    )
    assert client.get(f"/api/v1/workflows/{workflow.pk}/versions/9/").status_code == 404
    restored = post_json(client, f"/api/v1/workflows/{workflow.pk}/restore/", {"version": 1}).json()
    assert restored["draft_revision"] == 3
    assert restored["draft_graph"]["nodes"][1]["config"]["template"] == "Brief on {{ topic }}"


def test_node_catalog_and_ports(alice: Any) -> None:
    client = client_for(alice)
    catalog = client.get("/api/v1/node-catalog/").json()
    types = {entry["type"] for entry in catalog}
    assert {"input", "output", "llm", "agent", "template"} <= types
    agent = next(e for e in catalog if e["type"] == "agent")
    assert agent["default_ports"]["inputs"][0]["name"] == "task"
    ports = post_json(
        client,
        "/api/v1/node-ports/",
        {"nodes": [{"id": "x", "type": "agent", "config": {"outputs": [{"name": "n", "type": "int"}]}}]},
    ).json()
    assert ports["ports"]["x"]["outputs"][0]["type"] == "int"


def test_export_json_yaml_roundtrip_through_import(workflow: Workflow, alice: Any) -> None:
    client = client_for(alice)
    exported = client.get(f"/api/v1/workflows/{workflow.pk}/export/?format=yaml")
    assert exported.status_code == 200
    assert exported["Content-Disposition"].endswith('research-brief.yaml"')
    doc = yaml.safe_load(exported.content)
    assert doc["studio_export"] == 1
    imported = client.post(
        "/api/v1/projects/acme/workflows/import/", data=exported.content, content_type="application/yaml"
    )
    assert imported.status_code == 201, imported.content
    copy = Workflow.objects.get(pk=imported.json()["workflow"]["id"])
    assert copy.slug == "research-brief-2"
    assert copy.name == f"{workflow.name} (imported)"  # told apart from the original in lists
    assert copy.draft_graph == workflow.draft_graph
    third = client.post(
        "/api/v1/projects/acme/workflows/import/", data=exported.content, content_type="application/yaml"
    )
    assert third.json()["workflow"]["name"] == f"{workflow.name} (imported 2)"
    as_json = client.get(f"/api/v1/workflows/{workflow.pk}/export/?format=json").json()
    again = post_json(client, "/api/v1/projects/acme/workflows/import/", {"document": as_json, "name": "Copy"})
    assert again.status_code == 201
    assert again.json()["workflow"]["name"] == "Copy"


@pytest.mark.parametrize(
    ("body", "ctype", "fragment"),
    [
        (b'{"studio_export": 1, "kind": "workflow",', "application/json", "line 1"),
        (b"studio_export: 1\nworkflow: [unclosed\n", "application/yaml", "YAML"),
        (b"a: &x [1]\nb: *x\n", "application/yaml", "aliases"),
        (b'{"kind": "workflow"}', "application/json", "studio_export"),
        (b'{"studio_export": 99, "kind": "workflow"}', "application/json", "newer studio"),
        (
            b'{"studio_export": 1, "kind": "workflow", "workflow": {"name": "X"}, "graph": {"schema": 1, "nodes": [{"id": "a", "type": "no_such_type"}], "edges": []}}',
            "application/json",
            "unknown node type",
        ),
        (b"\xff\xfe", "application/yaml", "UTF-8"),
    ],
)
def test_malformed_import_is_400_with_a_clear_message(alice: Any, body: bytes, ctype: str, fragment: str) -> None:
    response = client_for(alice).post("/api/v1/projects/acme/workflows/import/", data=body, content_type=ctype)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_import"
    assert fragment in response.json()["detail"] + json.dumps(response.json().get("errors"))
    assert not Workflow.objects.exists()


def test_import_as_file_upload(workflow: Workflow, alice: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(alice)
    content = client.get(f"/api/v1/workflows/{workflow.pk}/export/?format=json").content
    upload = SimpleUploadedFile("flow.json", content, content_type="application/json")
    response = client.post("/api/v1/projects/acme/workflows/import/", {"file": upload, "name": "Uploaded"})
    assert response.status_code == 201, response.content
    assert response.json()["workflow"]["name"] == "Uploaded"


def test_export_python_is_downloadable(workflow: Workflow, alice: Any) -> None:
    response = client_for(alice).get(f"/api/v1/workflows/{workflow.pk}/export/?format=python")
    assert response.status_code == 200
    compile(response.content.decode(), "research_brief.py", "exec")


def test_templates_list_and_use(alice: Any, charlie: Any) -> None:
    client = client_for(alice)
    templates = client.get("/api/v1/templates/").json()
    if not templates:
        pytest.skip("no templates yet")
    slug = templates[0]["slug"]
    created = post_json(client, f"/api/v1/templates/{slug}/use/", {"project": "acme", "name": "Mine"})
    assert created.status_code == 201
    assert created.json()["name"] == "Mine"
    assert post_json(client_for(charlie), f"/api/v1/templates/{slug}/use/", {"project": "acme"}).status_code == 404
    assert post_json(client, "/api/v1/templates/nope/use/", {"project": "acme"}).status_code == 404


def test_bearer_key_is_capped_to_its_project_and_role(workflow: Workflow, alice: Any) -> None:
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=workflow.project, name="ci", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.VIEWER, user=alice
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 200
    response = client.put(
        f"/api/v1/workflows/{workflow.pk}/draft/",
        data=json.dumps({"graph": research_graph(), "base_revision": 1}),
        content_type="application/json",
    )
    assert response.status_code == 403


def test_every_workflow_endpoint_is_in_the_schema(alice: Any) -> None:
    schema = yaml.safe_load(client_for(alice).get("/api/schema/").content)
    paths = set(schema["paths"])
    for expected in [
        "/api/v1/projects/{project}/workflows/",
        "/api/v1/projects/{project}/workflows/import/",
        "/api/v1/workflows/{id}/draft/",
        "/api/v1/workflows/{id}/publish/",
        "/api/v1/workflows/{id}/diff/",
        "/api/v1/workflows/{id}/restore/",
        "/api/v1/workflows/{id}/export/",
        "/api/v1/node-catalog/",
        "/api/v1/templates/",
        "/api/v1/templates/{slug}/use/",
    ]:
        assert expected in paths, expected


def test_trace_ingest_records_spans_with_unknown_cost(workflow: Workflow, alice: Any, bob: Any, charlie: Any) -> None:
    from traces.models import Span, Trace

    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=workflow.project,
        name="script",
        prefix=raw[:8],
        hashed_key=ApiKey.hash(raw),
        role=Role.RUNNER,
        user=alice,
    )
    payload = {
        "source": "python-export",
        "workflow": {"project": "acme", "slug": workflow.slug, "version": None},
        "inputs": {"topic": "tides"},
        "outputs": {"brief": "x"},
        "status": "succeeded",
        "error": "",
        "steps": [{"node_id": "tpl", "status": "succeeded"}],
        "spans": [
            {
                "node_id": "tpl",
                "model": "openai/smollm2",
                "input": {"messages": [{"role": "user", "content": "key sk-abcdefghijklmnopqrstuvwx"}]},
                "output": {"text": "ok"},
                "input_tokens": 12,
                "output_tokens": 3,
                "latency_ms": 41.5,
                "started_at": 1_700_000_000.0,
            }
        ],
    }
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        "/api/v1/traces/ingest", data=json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    trace = Trace.objects.get(pk=response.json()["trace_id"])
    span = Span.objects.get(trace=trace)
    assert (span.node_id, span.input_tokens, span.output_tokens, span.cost_usd, span.price_source) == (
        "tpl",
        12,
        3,
        None,
        "unknown",
    )
    assert "sk-abcdefghijklmnopqrstuvwx" not in json.dumps(span.input)
    assert post_json(client_for(bob), "/api/v1/traces/ingest", payload).status_code == 403
    assert post_json(client_for(charlie), "/api/v1/traces/ingest", payload).status_code == 404


# ---------------------------------------------------------------- editor pages and panels (HTMX)


def inspector(client: Client, workflow: Workflow, node: dict[str, Any], **fields: str) -> Any:
    data = {"node": json.dumps(node), **fields}
    return client.post(f"/p/acme/w/{workflow.slug}/edit/inspector/", data=data, HTTP_HX_REQUEST="true")


def inspector_result(response: Any) -> dict[str, Any]:
    html = response.content.decode()
    start = html.index('class="insp-result">') + len('class="insp-result">')
    return json.loads(html[start : html.index("</script>", start)])


def test_editor_page_boots_with_graph_ports_and_catalog(workflow: Workflow, alice: Any, charlie: Any) -> None:
    response = client_for(alice).get(f"/p/acme/w/{workflow.slug}/edit/")
    assert response.status_code == 200
    boot = json.loads(
        response.content.decode().split('id="editor-boot" type="application/json">')[1].split("</script>")[0]
    )
    assert boot["workflow"]["draft_revision"] == 1
    assert [f["name"] for f in boot["ports"]["tpl"]["outputs"]] == ["text"]
    assert {"input", "agent", "llm"} <= {entry["type"] for entry in boot["catalog"]}
    assert boot["can_edit"] is True
    assert client_for(charlie).get(f"/p/acme/w/{workflow.slug}/edit/").status_code == 404


def test_inspector_lists_the_projects_endpoints_and_prompts(
    workflow: Workflow, alice: Any, local_endpoint: Any, seeded_prompt: Any
) -> None:
    node = {"id": "w", "type": "llm", "label": "Writer", "config": {}}
    response = inspector(client_for(alice), workflow, node, _open="1")
    html = response.content.decode()
    assert 'value="local"' in html and "brief-writer" in html
    assert inspector_result(response)["opened"] is True


def test_inspector_validates_inline_and_returns_ports_when_valid(workflow: Workflow, alice: Any) -> None:
    client = client_for(alice)
    node = {"id": "a", "type": "agent", "label": "A", "config": {}}
    fields = {
        "label": "Facts",
        "cfg-endpoint": "local",
        "cfg-instructions": "List facts.",
        "cfg-inputs-count": "1",
        "cfg-inputs-0-name": "topic",
        "cfg-inputs-0-type": "str",
        "cfg-inputs-0-required": "on",
        "cfg-outputs-count": "1",
        "cfg-outputs-0-name": "facts",
        "cfg-outputs-0-type": "int",
        "cfg-outputs-0-required": "on",
        "cfg-params": '{"max_tokens": 50}',
        "cfg-tools": "",
        "cfg-max_steps": "5",
        "cfg-on_error": "fail",
        "_swap": "errors",
    }
    ok = inspector(client, workflow, node, **fields)
    result = inspector_result(ok)
    assert result["valid"] is True
    assert result["label"] == "Facts"
    assert result["ports"]["outputs"] == [
        {
            "name": "facts",
            "type": "int",
            "description": "",
            "required": True,
            "default": None,
            "choices": [],
            "items": None,
        }
    ]
    bad = inspector(client, workflow, node, **{**fields, "cfg-outputs-0-name": "2bad", "cfg-params": "{oops"})
    html = bad.content.decode()
    assert inspector_result(bad)["valid"] is False
    assert 'id="insp-err-params"' in html and "Not valid JSON" in html
    assert 'id="insp-err-outputs-0"' in html and "not a valid field name" in html


def test_viewer_inspector_is_read_only(workflow: Workflow, bob: Any) -> None:
    response = inspector(
        client_for(bob), workflow, {"id": "a", "type": "agent", "label": "A", "config": {}}, **{"cfg-endpoint": "x"}
    )
    assert "<fieldset disabled>" in response.content.decode()
    assert inspector_result(response)["opened"] is True  # nothing posted by a viewer is applied


def test_run_form_refuses_bad_inputs_with_400(workflow: Workflow, alice: Any) -> None:
    client = client_for(alice)
    form = client.get(f"/p/acme/w/{workflow.slug}/edit/run/")
    assert form.status_code == 200 and 'name="input-topic"' in form.content.decode()
    response = client.post(f"/p/acme/w/{workflow.slug}/edit/run/", {})
    assert response.status_code == 400
    assert "field__error" in response.content.decode()
    assert not workflow.runs.exists()


def test_history_page_shows_versions_and_a_field_level_diff(workflow: Workflow, alice: Any) -> None:
    svc.workflow_publish(workflow=workflow, user=alice, note="first")
    graph = research_graph()
    graph["nodes"][1]["config"]["template"] = "Changed {{ topic }}"
    svc.workflow_draft_save(workflow=workflow, user=alice, graph=graph, base_revision=1)
    html = client_for(alice).get(f"/p/acme/w/{workflow.slug}/history/?a=1&b=draft").content.decode()
    assert "first" in html and "config.template" in html
    assert "graph-svg__node--changed" in html


def test_restore_from_history_page(workflow: Workflow, alice: Any, bob: Any) -> None:
    svc.workflow_publish(workflow=workflow, user=alice, note="first")
    assert client_for(bob).post(f"/p/acme/w/{workflow.slug}/restore/", {"version": "1"}).status_code == 403
    response = client_for(alice).post(f"/p/acme/w/{workflow.slug}/restore/", {"version": "1"})
    assert response.status_code == 302 and response["Location"].endswith("/edit/")
    workflow.refresh_from_db()
    assert workflow.draft_revision == 2


def test_template_gallery_and_use(alice: Any) -> None:
    templates = svc.workflow_templates()
    if len(templates) < 8:
        pytest.fail(f"the gallery needs at least 8 templates, found {len(templates)}")
    client = client_for(alice)
    html = client.get("/templates/").content.decode()
    assert html.count('class="tpl-card"') == len(templates)
    assert html.count('<svg class="graph-svg"') == len(templates)
    response = client.post(f"/templates/{templates[0].slug}/use/", {"project": "acme", "name": "From gallery"})
    assert response.status_code == 302
    assert Workflow.objects.filter(project__slug="acme", name="From gallery").exists()


def test_runs_panel_filters_by_status_and_version(workflow: Workflow, alice: Any) -> None:
    from agents.models import Run

    version = svc.workflow_publish(workflow=workflow, user=alice, note="v1")
    Run.objects.create(project=workflow.project, workflow=workflow, graph=workflow.draft_graph, status="failed")
    Run.objects.create(
        project=workflow.project, workflow=workflow, version=version, graph=version.graph, status="succeeded"
    )
    client = client_for(alice)
    base = f"/p/acme/w/{workflow.slug}/edit/runs/"
    assert client.get(base).content.decode().count('class="ed-runlist__row"') == 2
    assert client.get(base + "?status=failed").content.decode().count('class="ed-runlist__row"') == 1
    assert client.get(base + "?version=1").content.decode().count('class="ed-runlist__row"') == 1
    assert client.get(base + "?version=draft&status=succeeded").content.decode().count('class="ed-runlist__row"') == 0


def test_approve_a_waiting_approval_step_from_the_canvas(
    workflow: Workflow, alice: Any, bob: Any, charlie: Any
) -> None:
    from agents.models import ApprovalDecision, Run, Step

    graph = research_graph()
    graph["nodes"].append(
        {"id": "gate", "type": "approval", "label": "Gate", "config": {}, "position": {"x": 0, "y": 0}}
    )
    run = Run.objects.create(project=workflow.project, workflow=workflow, graph=graph, status="waiting")
    Step.objects.create(run=run, node_id="gate", node_type="approval", status="waiting", inputs={})
    step_html = client_for(alice).get(f"/runs/{run.pk}/steps/gate/").content.decode()
    assert "Approve" in step_html and "Reject" in step_html
    assert client_for(charlie).post(f"/runs/{run.pk}/steps/gate/approval/", {"decision": "approve"}).status_code == 404
    assert client_for(bob).post(f"/runs/{run.pk}/steps/gate/approval/", {"decision": "approve"}).status_code == 403
    response = client_for(alice).post(f"/runs/{run.pk}/steps/gate/approval/", {"decision": "approve", "comment": "ok"})
    assert response.status_code == 200, response.content
    decision = ApprovalDecision.objects.get(run=run, node_id="gate")
    assert decision.approved is True and decision.comment == "ok"
    again = client_for(alice).post(f"/runs/{run.pk}/steps/gate/approval/", {"decision": "reject"})
    assert again.status_code == 400 and "not waiting" in again.content.decode()
