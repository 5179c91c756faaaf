"""Guardrail hardening: JSON Schema references are never fetched, and the
CPU-bound checks (regex, PII, JSON Schema) run off the event loop within a
time limit (issue 7, items 1 and 4)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.engine import execute_graph, validate_graph
from agents.engine.nodes.guardrail import find_pii, schema_violations
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, edge, field_, io_graph, node


class _Listener:
    """HTTP servers on 127.0.0.1 and [::1] (ephemeral ports) that record every request path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.paths.append(self.path)
                body = b'{"type": "string"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/schema+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server6(ThreadingHTTPServer):
            address_family = socket.AF_INET6

        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler), Server6(("::1", 0), Handler)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.servers[0].server_address[1]

    @property
    def port6(self) -> int:
        return self.servers[1].server_address[1]

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    yield server
    server.close()


def _schemas(listener: _Listener) -> dict[str, dict]:
    port, port6 = listener.port, listener.port6
    return {
        "loopback": {"$ref": f"http://127.0.0.1:{port}/loopback"},
        "ipv6": {"$ref": f"http://[::1]:{port6}/ipv6"},
        "hex": {"$ref": f"http://0x7f000001:{port}/hex"},
        "relative_under_remote_id": {
            "$id": f"http://127.0.0.1:{port}/root.json",
            "type": "object",
            "properties": {"a": {"$ref": "relative.json"}},
        },
    }


def _guarded(schema: dict, **config: object) -> dict:
    return io_graph(
        [
            node(
                "guard",
                "guardrail",
                "Schema guard",
                inputs=[field_("question")],
                checks=[{"kind": "json_schema", "json_schema": schema}],
                **config,
            )
        ],
        [edge("in", "question", "guard", "question"), edge("guard", "pass", "out", "answer")],
    )


@pytest.mark.parametrize("case", ["loopback", "ipv6", "hex", "relative_under_remote_id"])
def test_a_remote_schema_reference_is_a_validation_error_naming_the_node(arun, listener, case):
    doc = _guarded(_schemas(listener)[case])

    issues = validate_graph(doc)
    result = arun(execute_graph(doc, {"question": '{"a": 1}'}, Kit(ScriptedLLM({})).runtime))

    assert [issue.node_id for issue in issues] == ["guard"] * len(issues) and issues
    assert 'Node "Schema guard" (guard)' in issues[0].message
    assert "$ref" in issues[0].message or "$id" in issues[0].message
    assert (result.status, result.error_code) == ("failed", "invalid_graph")
    assert listener.paths == []


@pytest.mark.parametrize("case", ["loopback", "ipv6", "hex", "relative_under_remote_id"])
def test_validating_against_a_remote_reference_fetches_nothing(listener, case):
    # The run-time validator is the second line: even a schema that skipped
    # graph validation resolves references only inside itself.
    violations = schema_violations(_schemas(listener)[case], {"a": 1})

    assert listener.paths == []
    assert len(violations) == 1 and "cannot be resolved inside the schema" in violations[0]


def test_local_references_still_work(arun):
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/name"}},
        "$defs": {"name": {"type": "string"}},
        "enum": [{"$ref": "http://data.example/not-a-reference"}, {"a": "x"}],
    }
    doc = _guarded(schema)

    assert validate_graph(doc) == []
    passed = arun(execute_graph(doc, {"question": '{"a": "x"}'}, Kit(ScriptedLLM({})).runtime))
    assert passed.outputs == {"answer": '{"a": "x"}'}
    assert schema_violations(schema, {"a": 1}) == [
        "JSON Schema: {'a': 1} is not one of [{'$ref': 'http://data.example/not-a-reference'}, {'a': 'x'}]",
        "JSON Schema: 1 is not of type 'string'",
    ]


def regex_graph(pattern: str, **config: object) -> dict:
    return io_graph(
        [
            node(
                "guard",
                "guardrail",
                "Pattern guard",
                inputs=[field_("question")],
                checks=[{"kind": "regex", "pattern": pattern}],
                **config,
            )
        ],
        [edge("in", "question", "guard", "question"), edge("guard", "pass", "out", "answer")],
    )


async def _run_counting_ticks(doc: dict, inputs: dict) -> tuple[object, int]:
    """Execute ``doc`` while another coroutine ticks every 10 ms; the ticks it managed."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        result = await execute_graph(doc, inputs, Kit(ScriptedLLM({})).runtime)
    finally:
        done.set()
        await task
    return result, ticks


def test_the_issues_nested_quantifier_no_longer_hangs(arun):
    # (a+)+$ on 26+ characters froze the server for seconds with ``re``; the
    # ``regex`` module answers at once.
    result = arun(execute_graph(regex_graph("(a+)+$"), {"question": "a" * 30 + "!"}, Kit(ScriptedLLM({})).runtime))

    assert result.status == "succeeded"
    assert result.outputs == {"answer": "a" * 30 + "!"}


def test_a_catastrophic_pattern_is_stopped_by_the_time_limit_with_a_clear_step_error(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(regex_graph("(a|a)+$", timeout_s=0.5), {"question": "a" * 40 + "!"}, kit.runtime))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "timeout", "guard")
    step = kit.steps.get("guard")
    assert step.status == "failed" and step.error_code == "timeout"
    assert "check 1 (regex)" in step.error and "0.5 s" in step.error


def test_the_event_loop_keeps_ticking_while_a_slow_check_runs(arun):
    result, ticks = arun(_run_counting_ticks(regex_graph("(a|a)+$", timeout_s=1), {"question": "a" * 40 + "!"}))

    assert result.error_code == "timeout"
    # Blocking the loop for the whole second would allow at most a tick or two;
    # a check in a worker thread (the regex module releases the GIL) lets it tick on.
    assert ticks >= 10


def test_a_catastrophic_json_schema_pattern_is_stopped_too(arun):
    schema = {"type": "object", "patternProperties": {"^(a|a)+$": {"type": "string"}}}
    doc = _guarded(schema, timeout_s=0.5)

    result, ticks = arun(_run_counting_ticks(doc, {"question": '{"' + "a" * 40 + '!": 1}'}))

    assert (result.status, result.error_code) == ("failed", "timeout")
    assert ticks >= 5


@pytest.mark.parametrize(
    "text",
    [
        "a" * 60_000,
        "a." * 30_000,
        "1" * 60_000,
        "1 " * 30_000,
        ("4111 1111 1111 1111 +44 20 7946 0958 x " * 2000)[:60_000],
    ],
    ids=["letters", "dotted", "digits", "spaced-digits", "cards-and-phones"],
)
def test_the_pii_check_handles_60000_characters_within_its_time_limit(arun, text):
    # The e-mail pattern rescanned the rest of the text from every position
    # (quadratic: ~9 s here for 60,000 letters); it now takes milliseconds, far
    # inside a 5 s limit that would otherwise stop it.
    doc = io_graph(
        [node("guard", "guardrail", "PII", inputs=[field_("question")], checks=[{"kind": "pii"}], timeout_s=5)],
        [edge("in", "question", "guard", "question"), edge("guard", "violations", "out", "answer")],
        outputs=[field_("answer", "list", items="str", required=False)],
    )

    result = arun(execute_graph(doc, {"question": text}, Kit(ScriptedLLM({})).runtime))

    assert result.status == "succeeded", result.error
    expected = ["contains personal data: phone", "contains personal data: card"] if "4111" in text else None
    assert result.outputs.get("answer") == expected


def test_find_pii_still_finds_an_address_after_a_long_run_of_letters():
    assert find_pii("x" * 50_000 + " mail ada@example.org", ["email"]) == ["email"]
    assert find_pii("!!!ada@example.org", ["email"]) == ["email"]
