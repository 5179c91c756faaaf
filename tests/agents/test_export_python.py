"""Export to Python: the script compiles, is ruff-clean, imports only litellm/pydantic/stdlib, and runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.export_python import _ident, export_python
from agents.models import Workflow
from agents.services import workflows as svc
from studio.models import Project
from tests.agents.test_workflow_services import research_graph

pytestmark = pytest.mark.django_db

STDLIB = set(sys.stdlib_module_names)
ALLOWED_THIRD_PARTY = {"litellm", "pydantic", "jinja2"}  # jinja2 is a dependency of litellm


def imported_modules(source: str) -> set[str]:
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def agent_graph(endpoint: str = "local") -> dict[str, Any]:
    """input(question) -> agent(answer, confidence) + template in parallel -> output."""
    question = {"name": "question", "type": "str", "description": "What you want to know"}
    return {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "Question",
                "config": {"fields": [question]},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "answerer",
                "type": "agent",
                "label": "Answerer",
                "position": {"x": 300, "y": 0},
                "config": {
                    "endpoint": endpoint,
                    "instructions": "Answer briefly. Give a confidence from 0 to 1.",
                    "inputs": [question],
                    "outputs": [
                        {"name": "answer", "type": "str", "description": "A short answer"},
                        {"name": "confidence", "type": "float", "description": "0 to 1"},
                    ],
                    "params": {"temperature": 0.2, "max_tokens": 80},
                },
            },
            {
                "id": "echo",
                "type": "template",
                "label": "Echo",
                "position": {"x": 300, "y": 200},
                "config": {"template": "Q: {{ question }}", "inputs": [question]},
            },
            {
                "id": "output",
                "type": "output",
                "label": "Answer",
                "position": {"x": 600, "y": 0},
                "config": {
                    "fields": [
                        {"name": "answer", "type": "str"},
                        {"name": "confidence", "type": "float"},
                        {"name": "echo", "type": "str"},
                    ]
                },
            },
        ],
        "edges": [
            {"id": "e1", "source": "input", "source_port": "question", "target": "answerer", "target_port": "question"},
            {"id": "e2", "source": "input", "source_port": "question", "target": "echo", "target_port": "question"},
            {"id": "e3", "source": "answerer", "source_port": "answer", "target": "output", "target_port": "answer"},
            {
                "id": "e4",
                "source": "answerer",
                "source_port": "confidence",
                "target": "output",
                "target_port": "confidence",
            },
            {"id": "e5", "source": "echo", "source_port": "text", "target": "output", "target_port": "echo"},
        ],
    }


@pytest.fixture
def workflow(project: Project, alice: Any) -> Workflow:
    return svc.workflow_create(project=project, user=alice, name="Question answering", graph=agent_graph())


def test_script_compiles_and_imports_only_litellm_pydantic_and_stdlib(workflow: Workflow) -> None:
    source = export_python(workflow=workflow)
    compile(source, "question_answering.py", "exec")
    third_party = imported_modules(source) - STDLIB
    assert third_party <= ALLOWED_THIRD_PARTY, third_party
    assert "class AnswererOutputs(BaseModel)" in source
    assert "async def node_answerer(" in source
    assert "asyncio.gather(" in source  # the agent and the template run together
    assert "def main(" in source and "--studio-url" in source


def test_script_is_ruff_clean(workflow: Workflow, tmp_path: Path) -> None:
    script = tmp_path / "question_answering.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "E,F,W,B,UP",
            "--line-length",
            "140",
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_only_workflow_runs_without_a_model(project: Project, alice: Any, tmp_path: Path) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="Format", graph=research_graph())
    script = tmp_path / "format.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [sys.executable, str(script), "--input", json.dumps({"topic": "tides"})],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"brief": "Brief on tides"}


def test_invalid_inputs_fail_with_a_validation_error(project: Project, alice: Any, tmp_path: Path) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="Format", graph=research_graph())
    script = tmp_path / "format.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [sys.executable, str(script), "--input", "{}"], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 1
    assert "ValidationError" in result.stderr and "topic" in result.stderr


def test_unsupported_node_types_raise_instead_of_being_skipped(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["nodes"].append(
        {
            "id": "call",
            "type": "http",
            "label": "Call",
            "config": {"url": "https://example.com/x"},
            "position": {"x": 0, "y": 0},
        }
    )
    workflow = svc.workflow_create(project=project, user=alice, name="With http", graph=graph)
    try:
        source = export_python(workflow=workflow)
    except ValueError as exc:  # the node type's config is not valid as is: refused with the reason
        assert "Call" in str(exc)
        return
    assert "NotImplementedError" in source and "'http'" in source


def test_a_cycle_is_refused(project: Project, alice: Any) -> None:
    graph = research_graph()
    graph["edges"].append(
        {"id": "back", "source": "tpl", "source_port": "text", "target": "input", "target_port": "topic"}
    )
    workflow = svc.workflow_create(project=project, user=alice, name="Loop", graph=graph)
    with pytest.raises(ValueError, match="cycle"):
        export_python(workflow=workflow)


@pytest.mark.model
def test_exported_script_runs_against_the_local_model(
    project: Project, alice: Any, local_endpoint: Any, local_model: str, tmp_path: Path
) -> None:
    workflow = svc.workflow_create(
        project=project, user=alice, name="Question answering", graph=agent_graph(local_endpoint.slug)
    )
    script = tmp_path / "qa.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [sys.executable, str(script), "--input", json.dumps({"question": "What colour is the sky on a clear day?"})],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout)
    assert set(outputs) == {"answer", "confidence", "echo"}
    assert isinstance(outputs["answer"], str) and outputs["answer"].strip()
    assert isinstance(outputs["confidence"], float)
    assert outputs["echo"] == "Q: What colour is the sky on a clear day?"


@pytest.mark.model
def test_exported_script_reports_its_trace_to_a_studio_url(
    project: Project, alice: Any, local_endpoint: Any, local_model: str, tmp_path: Path
) -> None:
    workflow = svc.workflow_create(project=project, user=alice, name="Format", graph=research_graph())
    script = tmp_path / "format.py"
    script.write_text(export_python(workflow=workflow))
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--input",
            json.dumps({"topic": "tides"}),
            "--studio-url",
            "http://127.0.0.1:9",
            "--api-key",
            "sk_test",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0
    assert "could not reach the studio" in result.stderr  # the POST was attempted; nothing listens on port 9


# ----------------------------------------------------- logic nodes and pattern templates

#: Templates the export translates completely, with inputs for a run.
TEMPLATE_INPUTS: dict[str, dict[str, Any]] = {
    "conditional": {"message": "My order arrived broken and nobody answers my emails."},
    "consensus": {"question": "What is the capital of France?"},
    "debate": {"motion": "Cities should have more bike lanes."},
    "graph-loop": {"topic": "tides"},
    "handoff": {"message": "I was charged twice for my subscription this month."},
    "parallel": {"topic": "coffee", "angles": ["history", "health"]},
    "question-answering": {"question": "What colour is the sky on a clear day?"},
    "research-brief": {"topic": "solar power"},
    "sequential": {"topic": "tea"},
}
#: Templates with a node the export does not translate (supervisor, http).
NOT_TRANSLATED = {"hierarchical": "supervisor", "approval": "http"}


def ruff_problems(script: Path) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "E,F,W,B,UP",
            "--line-length",
            "140",
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def run_script(script: Path, inputs: dict[str, Any], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), "--input", json.dumps(inputs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def export_graph(project: Project, alice: Any, graph: dict[str, Any], tmp_path: Path, name: str) -> Path:
    workflow = svc.workflow_create(project=project, user=alice, name=name, graph=graph)
    source = export_python(workflow=workflow)
    compile(source, f"{name}.py", "exec")
    script = tmp_path / f"{_ident(name)}.py"
    script.write_text(source)
    assert not ruff_problems(script), ruff_problems(script)
    return script


def test_every_template_is_covered() -> None:
    from agents.workflow_templates import workflow_templates

    assert {t["slug"] for t in workflow_templates()} == set(TEMPLATE_INPUTS) | set(NOT_TRANSLATED)


@pytest.mark.parametrize("slug", sorted(TEMPLATE_INPUTS))
def test_supported_templates_export_completely_and_are_ruff_clean(
    project: Project, alice: Any, local_endpoint: Any, slug: str, tmp_path: Path
) -> None:
    from agents.workflow_templates import workflow_template

    template = workflow_template(slug)
    workflow = svc.workflow_create(project=project, user=alice, name=template["name"], graph=template["graph"])
    source = export_python(workflow=workflow)
    compile(source, f"{slug}.py", "exec")
    assert "NotImplementedError" not in source
    endpoints = ast.literal_eval(source.split("ENDPOINTS: dict[str, dict[str, Any]] = ")[1].split("\n\n")[0])
    # The test endpoint's pinned params travel with the script: its runs under test are deterministic too.
    assert endpoints["local"]["params"] == {"temperature": 0, "seed": 1234}
    assert imported_modules(source) - STDLIB <= ALLOWED_THIRD_PARTY
    script = tmp_path / "script.py"
    script.write_text(source)
    assert not ruff_problems(script), ruff_problems(script)


@pytest.mark.parametrize("slug", sorted(NOT_TRANSLATED))
def test_templates_with_untranslated_nodes_say_so(project: Project, alice: Any, slug: str, tmp_path: Path) -> None:
    from agents.workflow_templates import workflow_template

    template = workflow_template(slug)
    workflow = svc.workflow_create(project=project, user=alice, name=template["name"], graph=template["graph"])
    source = export_python(workflow=workflow)
    assert "Not translated (these nodes raise NotImplementedError)" in source
    assert f"'{NOT_TRANSLATED[slug]}' nodes are not translated yet" in source
    script = tmp_path / "script.py"
    script.write_text(source)
    assert not ruff_problems(script), ruff_problems(script)


@pytest.mark.model
@pytest.mark.parametrize("slug", sorted(TEMPLATE_INPUTS))
def test_supported_templates_run_against_the_local_model(
    project: Project, alice: Any, local_endpoint: Any, local_model: str, slug: str, tmp_path: Path
) -> None:
    from agents.workflow_templates import workflow_template

    template = workflow_template(slug)
    script = export_graph(project, alice, template["graph"], tmp_path, slug)
    result = run_script(script, TEMPLATE_INPUTS[slug], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout)
    output_node = next(n for n in template["graph"]["nodes"] if n["type"] == "output")
    fields = {f["name"]: f for f in output_node["config"]["fields"]}
    assert set(outputs) == set(fields)
    for name, spec in fields.items():
        value = outputs[name]
        assert value is not None, name
        if spec["type"] == "str":
            assert isinstance(value, str) and value.strip(), name
        elif spec["type"] == "enum":
            assert value in spec["choices"], name
        elif spec["type"] == "int":
            assert isinstance(value, int), name
        elif spec["type"] == "list":
            assert isinstance(value, list) and len(value) == len(TEMPLATE_INPUTS[slug]["angles"]), name


# The logic nodes without a model: template bodies make the runs deterministic.


def _field(name: str, kind: str = "str", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **extra}


def _node(node_id: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "label": node_id.title(), "config": config, "position": {"x": 0, "y": 0}}


def _edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, Any]:
    return {
        "id": f"{source}-{source_port}-{target}-{target_port}",
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def routed_graph(condition: str) -> dict[str, Any]:
    """input(text, score) -> router(high if ``condition``, else low) -> one template per branch -> join(first)."""
    inputs = [_field("text"), _field("score", "int")]
    return {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": inputs}),
            _node(
                "router",
                "router",
                {
                    "mode": "expression",
                    "inputs": inputs,
                    "forward": "text",
                    "routes": [{"name": "high", "when": condition}],
                },
            ),
            _node("shout", "template", {"template": "HIGH: {{ text }}", "inputs": [_field("text")]}),
            _node("calm", "template", {"template": "low: {{ text }}", "inputs": [_field("text")]}),
            _node("join", "join", {"mode": "first", "inputs": [_field("high"), _field("low")]}),
            _node("output", "output", {"fields": [_field("reply"), _field("score", "int")]}),
        ],
        "edges": [
            _edge("input", "text", "router", "text"),
            _edge("input", "score", "router", "score"),
            _edge("router", "high", "shout", "text"),
            _edge("router", "otherwise", "calm", "text"),
            _edge("shout", "text", "join", "high"),
            _edge("calm", "text", "join", "low"),
            _edge("join", "value", "output", "reply"),
            _edge("input", "score", "output", "score"),
        ],
    }


def test_python_condition_translates_the_safe_subset_only() -> None:
    from agents.export_python import Untranslatable, python_condition

    assert python_condition("department == 'billing'") == "v['department'] == 'billing'"
    assert (
        python_condition("score > 3 and not (tag in ['a', 'b'] or done == true)")
        == "(v['score'] > 3) and (not ((v['tag'] in ['a', 'b']) or (v['done'] == True)))"
    )
    assert python_condition("x not in none_list or -1 < y <= 2.5") == (
        "(v['x'] not in v['none_list']) or (-1 < v['y'] <= 2.5)"
    )
    assert python_condition("approved") == "v['approved']"
    for bad in ("text | lower == 'x'", "x is defined", "f(x)", "a.b == 1", "a + 1 > 2", "x[0]", "", "1 +"):
        with pytest.raises(Untranslatable):
            python_condition(bad)


@pytest.mark.parametrize(("score", "reply"), [(5, "HIGH: hello"), (1, "low: hello")])
def test_router_skips_the_other_branch_and_the_join_takes_what_ran(
    project: Project, alice: Any, tmp_path: Path, score: int, reply: str
) -> None:
    script = export_graph(project, alice, routed_graph("score > 3 and text != 'x'"), tmp_path, "routed")
    source = script.read_text()
    assert "if (v['score'] > 3) and (v['text'] != 'x'):" in source
    result = run_script(script, {"text": "hello", "score": score})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"reply": reply, "score": score}


def test_a_router_condition_outside_the_subset_raises_not_implemented(
    project: Project, alice: Any, tmp_path: Path
) -> None:
    script = export_graph(project, alice, routed_graph("text | length > 3"), tmp_path, "filtered")
    assert "Not translated (these nodes raise NotImplementedError)" in script.read_text()
    result = run_script(script, {"text": "hello", "score": 5})
    assert result.returncode == 1
    assert "NotImplementedError" in result.stderr and "the filter 'length'" in result.stderr


def test_join_modes(project: Project, alice: Any, tmp_path: Path) -> None:
    branches = [_field("a"), _field("b")]
    nodes = [_node("input", "input", {"fields": branches})]
    edges = []
    out_fields = []
    for mode, port, kind in (("object", "merged", "object"), ("list", "items", "list"), ("concat", "text", "str")):
        nodes.append(_node(f"j_{mode}", "join", {"mode": mode, "inputs": branches, "separator": " + "}))
        edges += [_edge("input", "a", f"j_{mode}", "a"), _edge("input", "b", f"j_{mode}", "b")]
        edges.append(_edge(f"j_{mode}", port, "output", mode))
        out_fields.append(_field(mode, kind))
    nodes.append(_node("output", "output", {"fields": out_fields}))
    script = export_graph(project, alice, {"schema": 1, "nodes": nodes, "edges": edges}, tmp_path, "joins")
    result = run_script(script, {"a": "x", "b": "y"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"object": {"a": "x", "b": "y"}, "list": ["x", "y"], "concat": "x + y"}


def test_loop_runs_until_its_condition_with_a_graph_body(project: Project, alice: Any, tmp_path: Path) -> None:
    body = {
        "schema": 1,
        "nodes": [
            _node("body_in", "input", {"fields": [_field("text"), _field("iteration", "int")]}),
            _node("grow", "template", {"template": "{{ text }}+", "inputs": [_field("text")]}),
            _node("body_out", "output", {"fields": [_field("text")]}),
        ],
        "edges": [_edge("body_in", "text", "grow", "text"), _edge("grow", "text", "body_out", "text")],
    }
    graph = {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": [_field("text")]}),
            _node(
                "loop",
                "loop",
                {"inputs": [_field("text")], "body": {"graph": body}, "max_iterations": 5, "until": "iteration >= 3"},
            ),
            _node("output", "output", {"fields": [_field("text"), _field("iterations", "int")]}),
        ],
        "edges": [
            _edge("input", "text", "loop", "text"),
            _edge("loop", "text", "output", "text"),
            _edge("loop", "iterations", "output", "iterations"),
        ],
    }
    script = export_graph(project, alice, graph, tmp_path, "looped")
    result = run_script(script, {"text": "a"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"text": "a+++", "iterations": 3}


def test_parallel_items_keep_their_order(project: Project, alice: Any, tmp_path: Path) -> None:
    body = {
        "node": {
            "id": "line",
            "type": "template",
            "config": {"template": "{{ prefix }}{{ item }}", "inputs": [_field("item"), _field("prefix")]},
        }
    }
    config = {"mode": "items", "body": body, "context": [_field("prefix")], "collect": "text", "max_concurrency": 2}
    graph = {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": [_field("words", "list", items="str"), _field("prefix")]}),
            _node("fan", "parallel", config),
            _node("output", "output", {"fields": [_field("lines", "list", items="str")]}),
        ],
        "edges": [
            _edge("input", "words", "fan", "items"),
            _edge("input", "prefix", "fan", "prefix"),
            _edge("fan", "results", "output", "lines"),
        ],
    }
    script = export_graph(project, alice, graph, tmp_path, "fanned")
    assert "asyncio.Semaphore(2)" in script.read_text()
    result = run_script(script, {"words": ["a", "b", "c", "d", "e"], "prefix": "-"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"lines": ["-a", "-b", "-c", "-d", "-e"]}


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('{"name": "Ann"}', 'ok: {"name": "Ann"}'),
        ('{"name": "Ann", "mail": "ann@example.com"}', "blocked: contains personal data: email"),
        ('{"name": 3}', "blocked: JSON Schema: 3 is not of type 'string' at name"),
        ("DROP TABLE", "blocked: matches the forbidden pattern 'DROP'; is not valid JSON"),
    ],
)
def test_guardrail_checks_pii_regex_and_json_schema(
    project: Project, alice: Any, tmp_path: Path, text: str, verdict: str
) -> None:
    checks = [
        {"kind": "pii", "pii_kinds": ["email", "card"]},
        {"kind": "regex", "pattern": "DROP"},
        {"kind": "json_schema", "json_schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
    ]
    graph = {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": [_field("text")]}),
            _node("guard", "guardrail", {"inputs": [_field("text")], "checks": checks}),
            _node("ok", "template", {"template": "ok: {{ text }}", "inputs": [_field("text")]}),
            _node(
                "blocked",
                "template",
                {
                    "template": "blocked: {{ violations | join('; ') }}",
                    "inputs": [_field("text"), _field("violations", "list", items="str")],
                },
            ),
            _node("join", "join", {"mode": "first", "inputs": [_field("ok"), _field("blocked")]}),
            _node("output", "output", {"fields": [_field("verdict")]}),
        ],
        "edges": [
            _edge("input", "text", "guard", "text"),
            _edge("guard", "pass", "ok", "text"),
            _edge("guard", "fail", "blocked", "text"),
            _edge("guard", "violations", "blocked", "violations"),
            _edge("ok", "text", "join", "ok"),
            _edge("blocked", "text", "join", "blocked"),
            _edge("join", "value", "output", "verdict"),
        ],
    }
    script = export_graph(project, alice, graph, tmp_path, "guarded")
    assert "import jsonschema" not in script.read_text()
    result = run_script(script, {"text": text})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"verdict": verdict}


def test_exported_scripts_hold_free_text_to_the_gateways_pattern():
    """The script asks grammar endpoints for text the way the studio's gateway does (no drift)."""
    from agents.export_python import RUNTIME
    from traces.structured import TEXT_START_PATTERN

    namespace: dict[str, object] = {}
    line = next(line for line in RUNTIME.splitlines() if line.startswith("TEXT_START_PATTERN"))
    exec(line, namespace)  # noqa: S102 - a line of our own constant
    assert namespace["TEXT_START_PATTERN"] == TEXT_START_PATTERN


@pytest.mark.parametrize(("flags", "approved"), [(["--approve", "--comment", "fine"], True), (["--reject"], False)])
def test_approval_exports_with_approve_and_reject_flags_like_the_studio(
    project: Project, alice: Any, tmp_path: Path, flags: list[str], approved: bool
) -> None:
    import asyncio

    from agents.engine import execute_graph
    from agents.engine.protocols import Decision
    from tests.agents.engine.engine_testkit import DictApprovals, Kit, ScriptedLLM

    review = {"inputs": [_field("topic")], "instructions": "Check {{ topic }}"}
    graph = {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": [_field("topic")]}),
            _node("review", "approval", review),
            _node(
                "output",
                "output",
                {"fields": [_field(n, required=False) for n in ("topic", "comment", "rejected")]},
            ),
        ],
        "edges": [
            _edge("input", "topic", "review", "topic"),
            _edge("review", "topic", "output", "topic"),
            _edge("review", "comment", "output", "comment"),
            _edge("review", "rejected", "output", "rejected"),
        ],
    }
    script = export_graph(project, alice, graph, tmp_path, "approval-gate")
    source = script.read_text()
    assert "NotImplementedError" not in source and "ask_approval('review'" in source
    result = subprocess.run(
        [sys.executable, str(script), "--input", json.dumps({"topic": "tea"}), *flags],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exported = json.loads(result.stdout)

    comment = "fine" if approved else ""
    kit = Kit(
        ScriptedLLM(lambda request: ""),
        extra={"approvals": DictApprovals({("review", ""): Decision(approved=approved, comment=comment)})},
    )
    studio = asyncio.run(execute_graph(graph, {"topic": "tea"}, kit.runtime))
    assert studio.status == "succeeded"
    assert exported == studio.outputs
    if approved:
        assert exported["topic"] == "tea" and exported["comment"] == "fine"
    else:
        assert exported["rejected"] == "Rejected." and exported["topic"] is None


def test_approval_without_a_flag_asks_on_the_console(project: Project, alice: Any, tmp_path: Path) -> None:
    graph = {
        "schema": 1,
        "nodes": [
            _node("input", "input", {"fields": [_field("topic")]}),
            _node("review", "approval", {"inputs": [_field("topic")], "instructions": "Check {{ topic }}"}),
            _node("output", "output", {"fields": [_field("topic", required=False)]}),
        ],
        "edges": [_edge("input", "topic", "review", "topic"), _edge("review", "topic", "output", "topic")],
    }
    script = export_graph(project, alice, graph, tmp_path, "approval-console")
    result = subprocess.run(
        [sys.executable, str(script), "--input", json.dumps({"topic": "tea"})],
        input="y\nlooks good\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Approval needed: Review (review)" in result.stderr and "Check tea" in result.stderr
    assert json.loads(result.stdout) == {"topic": "tea"}
