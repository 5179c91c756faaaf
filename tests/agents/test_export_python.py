"""Export to Python: the script compiles, is ruff-clean, imports only litellm/pydantic/stdlib, and runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.export_python import export_python
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
        {"id": "gate", "type": "approval", "label": "Gate", "config": {}, "position": {"x": 0, "y": 0}}
    )
    workflow = svc.workflow_create(project=project, user=alice, name="With approval", graph=graph)
    try:
        source = export_python(workflow=workflow)
    except ValueError as exc:  # the node type's config is not valid as is: refused with the reason
        assert "Gate" in str(exc)
        return
    assert "NotImplementedError" in source and "'approval'" in source


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
