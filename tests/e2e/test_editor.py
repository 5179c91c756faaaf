"""The visual builder end to end, in Debian's Chromium against a live ASGI server, a worker and the local model.

A person builds "Research brief" on an empty canvas with drag-and-drop and forms only, publishes it, runs it,
watches every node turn done live, opens a step's output, undoes a deletion and round-trips an export/import.
Screenshots of the main screens go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agents.models import Run, RunStatus, Workflow
from agents.services import workflows as svc
from tests.fixtures.browser import ARTIFACTS, screenshot, wait_js
from tests.fixtures.services import ROOT, _test_env, _wait_until, free_port, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

PASSWORD = "pw-for-tests-only"


@pytest.fixture(scope="session")
def editor_server(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Daphne serving the studio (HTTP + websockets) on a free port."""
    env = _test_env()
    port = free_port()
    log = tmp_path_factory.mktemp("editor_asgi") / "daphne.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    _wait_until(ready, 60, "daphne (editor)", proc, log)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def log_in(page: Any, base: str, username: str = "alice") -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def node(page: Any, node_id: str) -> Any:
    return page.locator(f'.drawflow-node:has(.sn-card[data-node="{node_id}"])')


def drop(page: Any, node_type: str, x: int, y: int) -> None:
    """Drag a node type from the palette onto the canvas at (x, y) of the canvas element."""
    page.drag_and_drop(f'.ed-pitem[data-type="{node_type}"]', "#drawflow", target_position={"x": x, "y": y})


def wait_inspector(page: Any, node_id: str) -> None:
    page.wait_for_selector(f'#insp-form[data-node-id="{node_id}"]')


def add_field(page: Any, prop: str, index: int, name: str, description: str = "") -> None:
    """Add a signature row with the form's button, fill it in, and wait for the canvas to show the port."""
    page.click(f"#insp-f-{prop} .insp-add")
    page.wait_for_selector(f"#cfg-{prop}-{index}-name")
    page.fill(f"#cfg-{prop}-{index}-name", name)
    if description:
        page.fill(f"#cfg-{prop}-{index}-description", description)


def rename_field(page: Any, prop: str, index: int, name: str, description: str = "") -> None:
    page.fill(f"#cfg-{prop}-{index}-name", name)
    if description:
        page.fill(f"#cfg-{prop}-{index}-description", description)


def wait_port(page: Any, node_id: str, side: str, name: str) -> None:
    node(page, node_id).locator(f".sn-{side}", has_text=name).first.wait_for(timeout=15_000)


def connect(page: Any, source: str, output: int, target: str, input_: int) -> None:
    """Drag from an output port to an input port with the mouse, as a person does."""
    start = node(page, source).locator(f".outputs .output_{output}").bounding_box()
    end = node(page, target).locator(f".inputs .input_{input_}").bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move((start["x"] + end["x"]) / 2, (start["y"] + end["y"]) / 2, steps=4)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=4)
    page.mouse.up()


def edge_count(page: Any) -> int:
    return int(page.evaluate("window.studioEditor.canvas.edges.size"))


def wait_saved(page: Any) -> None:
    wait_js(page, "document.querySelector('#ed-save').dataset.state === 'saved'", timeout=15_000)


def configure_agent(page: Any, node_id: str, label: str, instructions: str, output: str, description: str) -> None:
    wait_inspector(page, node_id)
    page.fill("#insp-label", label)
    page.select_option("#cfg-endpoint", "local")
    page.fill("#cfg-instructions", instructions)
    rename_field(page, "inputs", 0, "topic", "The topic")
    rename_field(page, "outputs", 0, output, description)
    page.fill("#cfg-params", '{"temperature": 0.2, "max_tokens": 120}')
    wait_port(page, node_id, "out", output)
    node(page, node_id).locator(".sn-title", has_text=label).wait_for()


def test_build_research_brief_on_an_empty_canvas_publish_run_and_round_trip(
    page: Any,
    editor_server: str,
    project: Any,
    alice: Any,
    local_endpoint: Any,
    seeded_prompt: Any,
    local_model: str,
    celery_worker_proc: Any,
) -> None:
    base = editor_server
    workflow = svc.workflow_create(project=project, user=alice, name="Research brief")
    log_in(page, base)
    page.goto(f"{base}/p/acme/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    assert page.locator(".drawflow-node").count() == 0
    screenshot(page, "editor-empty")

    page.click("#btn-zoom-out")
    page.click("#btn-zoom-out")

    # --- Input: one field, "topic"
    drop(page, "input", 30, 300)
    wait_inspector(page, "input_1")
    page.fill("#insp-label", "Topic")
    add_field(page, "fields", 0, "topic", "What the brief is about")
    wait_port(page, "input_1", "out", "topic")

    # --- Three agents in parallel
    drop(page, "agent", 250, 90)
    configure_agent(
        page, "agent_1", "Facts", "List three key facts about the topic, in one short paragraph.", "facts", "Key facts"
    )
    drop(page, "agent", 250, 300)
    configure_agent(
        page,
        "agent_2",
        "Risks",
        "List the main risks related to the topic, in one short paragraph.",
        "risks",
        "Main risks",
    )
    drop(page, "agent", 250, 510)
    configure_agent(
        page,
        "agent_3",
        "Open questions",
        "List two open questions about the topic.",
        "open_questions",
        "Open questions",
    )
    screenshot(page, "editor-inspector")

    # --- Writer: an LLM node on the project's prompt, four input fields
    drop(page, "llm", 470, 250)
    wait_inspector(page, "llm_1")
    page.fill("#insp-label", "Writer")
    page.select_option("#cfg-endpoint", "local")
    page.select_option("#cfg-prompt-slug", "brief-writer")
    for index, name in enumerate(["topic", "facts", "risks", "open_questions"]):
        add_field(page, "inputs", index, name)
    page.fill("#cfg-params", '{"temperature": 0.3, "max_tokens": 160}')
    wait_port(page, "llm_1", "in", "open_questions")
    wait_port(page, "llm_1", "out", "text")

    # --- Output: one field, "brief"
    drop(page, "output", 470, 560)
    wait_inspector(page, "output_1")
    page.fill("#insp-label", "Brief")
    add_field(page, "fields", 0, "brief", "The research brief")
    wait_port(page, "output_1", "in", "brief")

    # --- Wire it: output ports to input ports
    for source, output, target, input_ in [
        ("input_1", 1, "agent_1", 1),
        ("input_1", 1, "agent_2", 1),
        ("input_1", 1, "agent_3", 1),
        ("input_1", 1, "llm_1", 1),
        ("agent_1", 1, "llm_1", 2),
        ("agent_2", 1, "llm_1", 3),
        ("agent_3", 1, "llm_1", 4),
        ("llm_1", 1, "output_1", 1),
    ]:
        before = edge_count(page)
        connect(page, source, output, target, input_)
        wait_js(page, f"window.studioEditor.canvas.edges.size === {before + 1}", timeout=5_000)

    # An input port takes one edge: a second one is refused on the spot, with the reason.
    connect(page, "agent_1", 1, "llm_1", 1)
    page.locator(".toast", has_text="already connected").wait_for(timeout=5_000)
    assert edge_count(page) == 8

    page.click("#btn-layout")
    wait_saved(page)
    screenshot(page, "editor-built")
    stored = Workflow.objects.get(pk=workflow.pk)
    assert len(stored.draft_graph["nodes"]) == 6 and len(stored.draft_graph["edges"]) == 8
    assert svc.engine_issues(stored.draft_graph, project_id=stored.project_id) == []

    # --- Publish with a note
    page.click("#btn-publish")
    page.fill("#publish-note", "First version, built on the canvas")
    screenshot(page, "editor-publish")
    page.click("#btn-publish-confirm")
    page.locator(".toast", has_text="Published version 1").wait_for()
    version = stored.versions.get()
    assert version.version == 1 and version.note == "First version, built on the canvas"

    # --- Run it and watch every node turn done, live
    page.evaluate("""() => {
        window.__seen = {};
        new MutationObserver((records) => {
            for (const r of records) {
                const card = r.target.querySelector('.sn-card');
                if (!card) continue;
                const id = card.dataset.node;
                (window.__seen[id] = window.__seen[id] || []).push(r.target.dataset.status);
            }
        }).observe(document.querySelector('#drawflow'), {subtree: true, attributes: true, attributeFilter: ['data-status']});
        window.__streamed = new Set();
        new MutationObserver((records) => {
            for (const r of records) {
                const box = (r.target.nodeType === 1 ? r.target : r.target.parentElement).closest('.sn-stream');
                if (box && box.textContent) window.__streamed.add(box.closest('.sn-card').dataset.node);
            }
        }).observe(document.querySelector('#drawflow'), {subtree: true, childList: true, characterData: true});
    }""")
    page.click("#btn-run")
    page.wait_for_selector("#editor-run-form")
    page.fill("textarea[name='input-topic']", "solar panels on city roofs")
    page.evaluate("window.__noReload = true")
    page.click("#btn-run-submit")
    page.wait_for_selector("[data-run-id]")
    page.locator('.drawflow-node[data-status="running"]').first.wait_for(timeout=120_000)
    screenshot(page, "editor-run-live")
    try:
        wait_js(
            page,
            "Array.from(document.querySelectorAll('.drawflow-node')).every(n => n.dataset.status === 'succeeded')",
            timeout=300_000,
        )
    finally:
        screenshot(page, "editor-run-end")
    page.locator(".ed-runlive .run-header .badge", has_text="succeeded").wait_for(timeout=60_000)
    run = Run.objects.get(workflow=workflow)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert page.evaluate("window.__noReload") is True
    seen = page.evaluate("window.__seen")
    for node_id in ["agent_1", "agent_2", "agent_3", "llm_1"]:
        assert "running" in seen[node_id] and seen[node_id][-1] == "succeeded", (node_id, seen)
    assert set(seen) == {"input_1", "agent_1", "agent_2", "agent_3", "llm_1", "output_1"}
    streamed = set(page.evaluate("Array.from(window.__streamed)"))
    assert streamed & {"agent_1", "agent_2", "agent_3", "llm_1"}, "no model output was streamed onto the canvas"
    screenshot(page, "editor-run-done")

    # --- Open a step's output
    node(page, "llm_1").locator(".sn-title").click()
    outputs = page.locator("#step-slot [data-step-outputs]")
    outputs.wait_for()
    assert run.steps.get(node_id="llm_1").outputs["text"].strip()[:15] in outputs.inner_text()
    screenshot(page, "editor-step-output")

    # --- Undo a deletion
    node(page, "agent_2").locator(".sn-title").click()
    page.keyboard.press("Delete")
    wait_js(page, "!window.studioEditor.canvas.nodes.has('agent_2')")
    assert edge_count(page) == 6
    page.keyboard.press("Control+z")
    wait_js(page, "window.studioEditor.canvas.nodes.has('agent_2')")
    assert edge_count(page) == 8
    assert node(page, "agent_2").count() == 1
    wait_saved(page)
    stored.refresh_from_db()
    assert {n["id"] for n in stored.draft_graph["nodes"]} >= {"agent_2"} and len(stored.draft_graph["edges"]) == 8

    # --- Export to JSON, import it back as a new workflow through the editor
    exported = page.request.get(f"{base}/api/v1/workflows/{workflow.pk}/export/?format=json")
    assert exported.status == 200
    document = exported.json()
    assert document["studio_export"] == 1 and len(document["graph"]["nodes"]) == 6
    page.click("#menu-export summary")
    page.set_input_files(
        "#import-file",
        files=[{"name": "research-brief.json", "mimeType": "application/json", "buffer": exported.body()}],
    )
    page.wait_for_url(f"{base}/p/acme/w/research-brief-2/edit/", timeout=15_000)
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    assert page.locator(".drawflow-node").count() == 6
    assert edge_count(page) == 8
    copy = Workflow.objects.get(project=project, slug="research-brief-2")
    assert copy.draft_graph == stored.draft_graph
    screenshot(page, "editor-imported")

    # --- History: versions, visual and JSON diff
    page.goto(f"{base}/p/acme/w/{workflow.slug}/history/?a=1&b=draft")
    page.locator(".hist-version", has_text="First version, built on the canvas").wait_for()
    assert page.locator(".graph-svg").count() == 2
    screenshot(page, "workflow-history")


def test_a_stale_draft_save_is_refused_and_the_conflict_is_shown(
    page: Any, editor_server: str, project: Any, alice: Any
) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="Shared draft")
    log_in(page, editor_server)
    page.goto(f"{editor_server}/p/acme/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    # Somebody else saves the draft meanwhile.
    svc.workflow_draft_save(
        workflow=workflow,
        user=alice,
        graph={
            "schema": 1,
            "nodes": [{"id": "theirs", "type": "input", "label": "Theirs", "config": {}, "position": {"x": 0, "y": 0}}],
            "edges": [],
        },
        base_revision=1,
    )
    drop(page, "input", 200, 200)
    page.locator("#ed-conflict").wait_for(state="visible", timeout=10_000)
    assert page.locator("#ed-save").get_attribute("data-state") == "conflict"
    workflow.refresh_from_db()
    assert [n["id"] for n in workflow.draft_graph["nodes"]] == ["theirs"]
    screenshot(page, "editor-conflict")
    page.click("#btn-conflict-load")
    wait_js(page, "window.studioEditor.canvas.nodes.has('theirs')")
    assert page.locator("#ed-conflict").is_hidden()


def test_viewer_gets_a_read_only_canvas(page: Any, editor_server: str, project: Any, alice: Any, bob: Any) -> None:
    from tests.agents.test_workflow_services import research_graph

    workflow = svc.workflow_create(project=project, user=alice, name="Read only", graph=research_graph())
    log_in(page, editor_server, "bob")
    page.goto(f"{editor_server}/p/acme/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    assert page.locator("#ed-palette").is_hidden()
    assert page.locator("#btn-publish").count() == 0
    assert page.locator("#ed-save").get_attribute("data-state") == "readonly"


def test_templates_gallery_and_use_template(page: Any, editor_server: str, project: Any, alice: Any) -> None:
    templates = svc.workflow_templates()
    if not templates:
        pytest.skip("no templates in agents/workflow_templates yet")
    log_in(page, editor_server)
    page.goto(f"{editor_server}/templates/")
    assert page.locator(".tpl-card").count() == len(templates)
    screenshot(page, "template-gallery")
    first = templates[0]
    page.locator(f"#tpl-{first.slug} button").click()
    page.wait_for_url(f"{editor_server}/p/acme/w/**/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    assert page.locator(".drawflow-node").count() == first.node_count


def big_graph(count: int = 300) -> dict[str, Any]:
    """A chain of template nodes in rows of 20 (input -> t1 -> … -> output)."""
    field = {"name": "text", "type": "str"}
    nodes = [
        {"id": "input", "type": "input", "label": "In", "config": {"fields": [field]}, "position": {"x": 0, "y": 0}}
    ]
    edges = []
    previous, port = "input", "text"
    for i in range(1, count - 1):
        node_id = f"t{i}"
        nodes.append(
            {
                "id": node_id,
                "type": "template",
                "label": f"Step {i}",
                "config": {"template": "{{ text }}!", "inputs": [field]},
                "position": {"x": (i % 20) * 300, "y": (i // 20) * 160},
            }
        )
        edges.append({"id": f"e{i}", "source": previous, "source_port": port, "target": node_id, "target_port": "text"})
        previous = node_id
    nodes.append(
        {
            "id": "output",
            "type": "output",
            "label": "Out",
            "config": {"fields": [field]},
            "position": {"x": 0, "y": 16 * 160},
        }
    )
    edges.append({"id": "e-out", "source": previous, "source_port": "text", "target": "output", "target_port": "text"})
    return {"schema": 1, "nodes": nodes, "edges": edges}


def test_300_nodes_load_move_and_undo(page: Any, editor_server: str, project: Any, alice: Any) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="Big", graph=big_graph(300))
    log_in(page, editor_server)
    started = time.monotonic()
    page.goto(f"{editor_server}/p/acme/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    loaded_ms = (time.monotonic() - started) * 1000
    assert page.locator(".drawflow-node").count() == 300
    assert page.locator(".connection").count() == 299
    timings = page.evaluate("""() => {
        const ed = window.studioEditor, t0 = performance.now();
        ed.api.autoLayout();
        const t1 = performance.now();
        ed.api.undo();
        const t2 = performance.now();
        return {layout_ms: t1 - t0, undo_ms: t2 - t1};
    }""")
    assert page.evaluate("window.studioEditor.canvas.nodes.size") == 300
    screenshot(page, "editor-300-nodes")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "editor-300-nodes.json").write_text(
        json.dumps({"page_load_ms": round(loaded_ms), **timings}, indent=2)
    )


@pytest.mark.model
def test_exported_script_runs_and_sends_its_trace_to_the_live_studio(
    editor_server: str,
    project: Any,
    alice: Any,
    local_endpoint: Any,
    local_model: str,
    tmp_path: Any,
) -> None:
    from agents.export_python import export_python
    from studio.models import ApiKey, Role
    from tests.agents.test_export_python import agent_graph
    from traces.models import Span, Trace

    workflow = svc.workflow_create(
        project=project, user=alice, name="Question answering", graph=agent_graph(local_endpoint.slug)
    )
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="script", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.RUNNER, user=alice
    )
    script = tmp_path / "qa.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--input",
            json.dumps({"question": "Name a primary colour."}),
            "--studio-url",
            editor_server,
            "--api-key",
            raw,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sent to the studio (200)" in result.stderr, result.stderr[-2000:]  # the OTLP receiver's answer
    trace = Trace.objects.get(project=project, name="question-answering (python export)")
    assert trace.otel_trace_id in result.stderr
    assert Span.objects.filter(trace=trace, node_id="answerer", kind="chat").exists()


def test_multi_select_copy_paste_type_refusal_and_help(page: Any, editor_server: str, project: Any, alice: Any) -> None:
    from tests.agents.test_workflow_services import research_graph

    graph = research_graph()
    number = {
        "id": "count",
        "type": "agent",
        "label": "Counter",
        "position": {"x": 250, "y": 220},
        "config": {
            "endpoint": "local",
            "instructions": "Count.",
            "inputs": [{"name": "topic", "type": "str"}],
            "outputs": [{"name": "n", "type": "int"}],
        },
    }
    graph["nodes"].append(number)
    workflow = svc.workflow_create(project=project, user=alice, name="Interactions", graph=graph)
    log_in(page, editor_server)
    page.goto(f"{editor_server}/p/acme/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")

    # An int output into a str input is refused on the spot, with the reason.
    before = edge_count(page)
    connect(page, "count", 1, "tpl", 1)
    page.locator(".toast", has_text="Type mismatch").wait_for(timeout=5_000)
    assert "Template node" in page.locator(".toast", has_text="Type mismatch").inner_text()
    assert edge_count(page) == before

    # Shift+click two connected nodes, copy, paste: two new nodes and the edge between them.
    node(page, "input").locator(".sn-title").click()
    node(page, "tpl").locator(".sn-title").click(modifiers=["Shift"])
    assert page.evaluate("window.studioEditor.canvas.selection.size") == 2
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    wait_js(page, "window.studioEditor.canvas.nodes.size === 6")
    assert edge_count(page) == before + 1
    assert page.evaluate("window.studioEditor.canvas.selection.size") == 2

    # Delete the pasted pair, undo, redo.
    page.keyboard.press("Delete")
    wait_js(page, "window.studioEditor.canvas.nodes.size === 4")
    page.keyboard.press("Control+z")
    wait_js(page, "window.studioEditor.canvas.nodes.size === 6")
    page.keyboard.press("Control+y")
    wait_js(page, "window.studioEditor.canvas.nodes.size === 4")
    wait_saved(page)
    workflow.refresh_from_db()
    assert len(workflow.draft_graph["nodes"]) == 4

    # Select all with a shift-drag on the background.
    box = page.locator("#drawflow").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    assert page.evaluate("window.studioEditor.canvas.selection.size") == 4

    page.keyboard.press("Escape")
    page.keyboard.press("?")
    page.locator("#dlg-help").wait_for(state="visible")
    screenshot(page, "editor-shortcuts")
