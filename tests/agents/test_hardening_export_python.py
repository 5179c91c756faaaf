"""Export to Python carries user strings only as literals (issue 7, item 2).

Labels, the workflow name and description, router and loop conditions,
untranslated nodes' labels and every other user string go into the script;
none of them may add code to it or stop it from compiling. The payloads
below create a file when they escape a docstring or a comment, so running
the scripts proves the point: no file appears.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from agents.export_python import export_python
from agents.models import Workflow
from studio.models import Project

pytestmark = pytest.mark.django_db


def _escape(name: str) -> str:
    return f'open("pwned_{name}", "w").write("x")'


# name -> payload; each tries a different way out of a docstring, a comment or a literal.
PAYLOADS: dict[str, str] = {
    "triple_double": f'x"""\n{_escape("triple_double")}\n"""',
    "triple_single": f"x'''\n{_escape('triple_single')}\n'''",
    "newline": f"x\n{_escape('newline')}\n#",
    "carriage_return": f"x\r{_escape('carriage_return')}\r#",
    "trailing_quote": 'ends with a quote"',
    "trailing_backslash": "ends with a backslash\\",
    "backslash_quote": f'x\\"""\n{_escape("backslash_quote")}\n"""',
    "windows_path": "C:\\Users\\x\\new",
    "unicode_escape": "\\U0001F600 \\N{SNOWMAN} \\x4 \\u12",
    "unicode": "Résumé 😀 ﬁ \u2028 \u2029 \u0085 \x0c \u202e tab\there",
    "quotes": "it's \"quoted\" and 'single' and `backticks`",
    "very_long": "A" * 100_000 + f'"""\n{_escape("very_long")}\n"""',
    "nul": "nul\x00 byte",
    "lone_surrogate": "lone \ud800 surrogate",  # refused at the API's boundary; the export still stays literal
}
#: Scripts run with --help: a lone surrogate compiles as a literal but pydantic cannot encode it.
RUNNABLE = sorted(set(PAYLOADS) - {"lone_surrogate"})


def _node(node_id: str, node_type: str, label: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "label": label, "config": config, "position": {"x": 0, "y": 0}}


def _edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, Any]:
    return {
        "id": f"{source}.{source_port}-{target}.{target_port}",
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def adversarial_graph(payload: str) -> dict[str, Any]:
    """Every kind of node the export knows, with ``payload`` in every user string it reads."""
    text = {"name": "text", "type": "str", "description": payload}
    choice = {"name": "choice", "type": "enum", "choices": [payload, "plain"], "description": payload}
    literal = payload.replace("\\", "\\\\").replace("'", "\\'").replace("\n", " ").replace("\r", " ")
    return {
        "schema": 1,
        "nodes": [
            _node("in", "input", payload, fields=[text, choice]),
            _node("tpl", "template", payload, template=payload + " {{ text }}", inputs=[text]),
            _node(
                "llm",
                "llm",
                payload,
                endpoint=payload,
                messages=[{"role": "system", "content": payload}, {"role": "user", "content": "{{ text }}"}],
                inputs=[text],
                params={"stop": [payload], "temperature": 0.1},
            ),
            _node(
                "route",
                "router",
                payload,
                inputs=[text],
                routes=[
                    {"name": "short", "when": f"text == '{literal}'\nor text == 'x'"},
                    {"name": "odd", "when": f"text | length > 3 and '{literal}'"},  # untranslated: a filter
                ],
                default_route="other",
            ),
            _node(
                "judge",
                "guardrail",
                payload,
                inputs=[text],
                endpoint=payload,
                checks=[
                    {"kind": "regex", "pattern": "x|" + literal},
                    {"kind": "json_schema", "json_schema": {"type": "string", "description": payload}},
                    {"kind": "llm_judge", "criteria": payload},
                ],
            ),
            _node(
                "merge",
                "join",
                payload,
                mode="concat",
                separator=payload,
                inputs=[{"name": "a", "type": "str"}, {"name": "b", "type": "str"}],
            ),
            _node(
                "call",
                "http",
                payload,
                url="https://api.example.com/x",
                inputs=[text],
            ),
            _node("out", "output", payload, fields=[{"name": "a", "type": "str"}, {"name": "b", "type": "str"}]),
        ],
        "edges": [
            _edge("in", "text", "tpl", "text"),
            _edge("in", "text", "llm", "text"),
            _edge("in", "text", "route", "text"),
            _edge("route", "short", "judge", "text"),
            _edge("judge", "pass", "merge", "a"),
            _edge("tpl", "text", "merge", "b"),
            _edge("in", "text", "call", "text"),
            _edge("merge", "text", "out", "a"),
            _edge("llm", "text", "out", "b"),
        ],
    }


def _script(project: Project, name: str, payload: str) -> str:
    # Not saved: PostgreSQL refuses NUL characters, and the export never stores anything.
    workflow = Workflow(project=project, name=payload, slug=f"adversarial-{name}", description=payload)
    return export_python(workflow=workflow, graph=adversarial_graph(payload))


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_an_adversarial_export_compiles_and_keeps_every_string_a_literal(project: Project, name: str) -> None:
    payload = PAYLOADS[name]

    source = _script(project, name, payload)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape sequence is a warning, today
        tree = ast.parse(source)  # compiles: no string broke out
        compile(source, f"{name}.py", "exec")
    source.encode("utf-8")  # writable as UTF-8: no raw lone surrogate
    # The only top-level statements are the export's own: a docstring, imports,
    # assignments, function and class definitions and the __main__ guard.
    allowed = (ast.Expr, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef,
               ast.ClassDef, ast.If)  # fmt: skip
    assert all(isinstance(statement, allowed) for statement in tree.body)
    expressions = [ast.unparse(s.value) for s in tree.body[1:] if isinstance(s, ast.Expr)]
    assert expressions == ["os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True')"]
    docstring = ast.get_docstring(tree, clean=False) or ""
    assert docstring.startswith(payload[:1000])
    # No open("pwned_…") call anywhere: it would be a payload that escaped.
    opened = [n.args[0] for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "open"]
    assert not [arg for arg in opened if isinstance(arg, ast.Constant) and str(arg.value).startswith("pwned")]


def test_running_the_adversarial_scripts_with_help_creates_no_file(project: Project, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    workdir = tmp_path / "run"
    workdir.mkdir()
    paths = []
    for name in RUNNABLE:
        path = scripts / f"adversarial_{name}.py"
        path.write_text(_script(project, name, PAYLOADS[name]), encoding="utf-8")
        paths.append(str(path))
    # One interpreter runs every script as __main__ with --help (litellm is imported once).
    runner = (
        "import runpy, sys\n"
        "for path in sys.argv[1:]:\n"
        "    sys.argv = [path, '--help']\n"
        "    try:\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (path, exc.code)\n"
        "    print('ok', path)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", runner, *paths], cwd=workdir, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ok ") == len(RUNNABLE)
    assert list(workdir.iterdir()) == []
    assert sorted(p.name for p in scripts.iterdir()) == sorted(Path(p).name for p in paths)


def test_exporting_a_draft_with_an_invalid_node_is_a_400_naming_it(project: Project, alice: Any) -> None:
    from django.test import Client

    from agents.services import workflows as svc

    graph = {
        "schema": 1,
        "nodes": [_node("in", "input", "In", fields=[{"name": "text"}]), _node("bad", "llm", "Broken", bogus=1)],
        "edges": [],
    }
    workflow = svc.workflow_create(project=project, user=alice, name="Draft", graph=graph)
    client = Client()
    client.force_login(alice)

    response = client.get(f"/api/v1/workflows/{workflow.pk}/export/?format=python")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_graph"
    assert "Broken (bad)" in response.json()["detail"]
