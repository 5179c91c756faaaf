"""The canary: a secret's value never appears outside its ciphertext.

A project secret holds a unique canary value. Workflows use it through every
node type that can: an ``http`` node sends it as a header to an echo server,
an ``llm`` node calls an endpoint whose API key it is (a local
OpenAI-compatible server that answers with the key it received, streamed in
small pieces and base64-encoded), a ``tool`` node calls an MCP server whose
headers secret it is (the tool answers with the headers), and a ``template``
node asks for it by name. Every server really receives the canary. Then the
canary (and its encodings) must be nowhere: not in any database row (every
table, every column, read with raw SQL), not in the logs at DEBUG, not in what
was broadcast to the run's channel group, not in the pages (run, workflow,
editor, step panels, history), the exports (JSON, YAML, Python) or the API
responses (run, runs, events, workflow, validate).
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection

from agents.models import McpServer, Run, RunStatus, Workflow
from studio.crypto import secret_create
from studio.models import EgressAllowedHost
from tests.agents.effects.helpers import execute, graph, text_field
from traces.models import ModelEndpoint
from traces.redaction import secret_variants

pytestmark = pytest.mark.django_db(transaction=True)

HERE = Path(__file__).resolve().parent
CANARY = f"cnry{uuid.uuid4().hex}Zq7"


# ------------------------------------------------------------ servers that echo what they receive


class _OpenAIEcho(BaseHTTPRequestHandler):
    """``POST …/chat/completions``: answers with the Authorization header it got (plain and base64).

    Offered tools and no tool result yet: it calls every tool. Asked for JSON
    (an agent's system message): the answer is ``{"result": …}``, with what
    the tools said.
    """

    server: _EchoServer  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        auth = self.headers.get("authorization", "")
        self.server.received.append(auth)
        text = f"You sent {auth}; encoded {base64.b64encode(f'user:{auth}'.encode()).decode()}."
        messages = body.get("messages") or []
        tool_results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
        if body.get("tools") and not tool_results:
            self._tool_calls(body["tools"], stream=bool(body.get("stream")))
            return
        if any("JSON" in str(m.get("content")) for m in messages):
            text = json.dumps({"result": f"{text} The tools said: {' | '.join(tool_results)}"})
        if not body.get("stream"):
            answer = {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "echo",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
            self._send(json.dumps(answer).encode(), "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        for index, piece in enumerate(pieces):
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "echo",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": piece},
                        "finish_reason": "stop" if index == len(pieces) - 1 else None,
                    }
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.03)  # pacing the stream so the canary is split over several token events
        usage = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "echo",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 5 + len(pieces)},
        }
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()

    def _tool_calls(self, tools: list[dict[str, Any]], *, stream: bool) -> None:
        calls = [
            {
                "index": i,
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": tool["function"]["name"], "arguments": "{}"},
            }
            for i, tool in enumerate(tools)
        ]
        if not stream:
            message = {"role": "assistant", "content": None, "tool_calls": [dict(c) for c in calls]}
            for call in message["tool_calls"]:
                call.pop("index")
            answer = {
                "id": "c2",
                "object": "chat.completion",
                "created": 0,
                "model": "echo",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
            self._send(json.dumps(answer).encode(), "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {
            "id": "c2",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "echo",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "tool_calls": calls}, "finish_reason": "tool_calls"}
            ],
        }
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()

    def _send(self, payload: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OpenAIEcho)
        self.received: list[str] = []


@pytest.fixture
def openai_echo() -> Iterator[_EchoServer]:
    """A local OpenAI-compatible server that echoes the API key it receives."""
    server = _EchoServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mcp_echo() -> Iterator[str]:
    """A real MCP server whose ``whoami`` tool echoes the request headers; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "echo_mcp_app.py"), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the echo MCP server did not start") from None
            time.sleep(0.1)  # waiting for a subprocess to bind its port: no event to wait on
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def loopback_name() -> str:
    """This machine's name when it resolves to loopback (a literal 127.0.0.1 is refused before a run)."""
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        pytest.skip(f"the host name {name!r} does not resolve")
    if not address.startswith("127."):
        pytest.skip(f"the host name {name!r} resolves to {address}, not to loopback")
    return name


# ------------------------------------------------------------------------------- the graphs


def echo_graph(http_url: str) -> dict[str, Any]:
    """input(message) → http (header secret) → template → llm (secret API key) → output; tool (MCP) → output;
    agent (secret API key, an http tool with the secret in a header, an MCP tool) → output."""
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("message")]}},
            {
                "id": "call",
                "type": "http",
                "config": {
                    "method": "POST",
                    "url": http_url,
                    "inputs": [text_field("message")],
                    "headers": {
                        "Authorization": 'Bearer {{ secret("CANARY") }}',
                        "X-Api-Key": '{{ secret("CANARY") }}',
                    },
                    "body": {"text": "{{ message }}"},
                },
            },
            {
                "id": "show",
                "type": "template",
                "config": {
                    "template": "The API said {{ echo | tojson }}",
                    "inputs": [{"name": "echo", "type": "object"}],
                },
            },
            {
                "id": "ask",
                "type": "llm",
                "config": {
                    "endpoint": "echo",
                    "inputs": [text_field("said")],
                    "messages": [{"role": "user", "content": "Repeat: {{ said }}"}],
                },
            },
            {"id": "whoami", "type": "tool", "config": {"server": "echo-mcp", "tool": "whoami", "inputs": []}},
            {
                "id": "bot",
                "type": "agent",
                "config": {
                    "endpoint": "echo",
                    "instructions": "Look things up.",
                    "inputs": [text_field("task")],
                    "outputs": [text_field("result")],
                    "tools": [
                        {
                            "kind": "http",
                            "name": "lookup",
                            "description": "Look it up",
                            "request": {
                                "method": "GET",
                                "url": http_url,
                                "headers": {"Authorization": 'Bearer {{ secret("CANARY") }}'},
                            },
                        },
                        {"kind": "mcp", "server": "echo-mcp", "tool": "whoami"},
                    ],
                },
            },
            {
                "id": "output",
                "type": "output",
                "config": {
                    "fields": [
                        {"name": "echo", "type": "object"},
                        text_field("said"),
                        text_field("answer"),
                        {"name": "mcp", "type": "object"},
                        text_field("agent"),
                    ]
                },
            },
        ],
        [
            ("input", "message", "call", "message"),
            ("call", "body", "show", "echo"),
            ("call", "body", "output", "echo"),
            ("show", "text", "ask", "said"),
            ("show", "text", "output", "said"),
            ("ask", "text", "output", "answer"),
            ("whoami", "result", "output", "mcp"),
            ("input", "message", "bot", "task"),
            ("bot", "result", "output", "agent"),
        ],
    )


def template_secret_graph() -> dict[str, Any]:
    """A template node that asks for the secret by name (only http headers may)."""
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("name")]}},
            {
                "id": "leak",
                "type": "template",
                "config": {"template": 'key={{ secret("CANARY") }} {{ name }}', "inputs": [text_field("name")]},
            },
            {"id": "output", "type": "output", "config": {"fields": [text_field("text")]}},
        ],
        [("input", "name", "leak", "name"), ("leak", "text", "output", "text")],
    )


# ------------------------------------------------------------------------------------ the test


def _database_text() -> dict[str, str]:
    """Every row of every table as JSON text (PostgreSQL's ``row_to_json``), by table."""
    dumped = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT row_to_json(t)::text FROM {connection.ops.quote_name(table)} t")  # noqa: S608
            dumped[f"table {table}"] = "\n".join(row[0] for row in cursor.fetchall())
    return dumped


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response).decode()  # the SSE stream is an async generator: the test client drains it
    return response.content.decode()


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_a_secret_value_never_appears_outside_its_ciphertext(
    project, alice, client, http_server, openai_echo, mcp_echo, loopback_name, dispatched, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    broadcast: list[Any] = []
    monkeypatch.setattr("agents.events.broadcast", lambda run_id, message: broadcast.append(message))

    async def abroadcast(run_id: int, message: dict[str, Any]) -> None:
        broadcast.append(message)

    monkeypatch.setattr("agents.runtime.abroadcast", abroadcast)

    async def someone_listens(run_id: int) -> bool:
        return True  # a page watches the run: model answers stream as step.token events, whose redaction is checked

    monkeypatch.setattr("agents.runtime.alistening", someone_listens)
    secret = secret_create(project=project, name="CANARY", value=CANARY, created_by=alice)
    mcp_port = urlsplit(mcp_echo).port
    openai_port = openai_echo.server_address[1]
    for host in (
        http_server.allow(),
        http_server.allow(loopback_name),
        f"127.0.0.1:{mcp_port}",
        f"127.0.0.1:{openai_port}",
    ):
        EgressAllowedHost.objects.create(project=project, host=host, note="the test servers")
    ModelEndpoint.objects.create(
        project=project,
        slug="echo",
        name="Echo",
        model="openai/echo",
        api_base=f"http://127.0.0.1:{openai_echo.server_address[1]}/v1",
        api_key_secret=secret,
        structured_output="prompt_only",
        input_price_per_mtok=0,
        output_price_per_mtok=0,
    )
    McpServer.objects.create(project=project, slug="echo-mcp", name="Echo MCP", url=mcp_echo, headers_secret=secret)
    client.force_login(alice)

    created = client.post(
        f"/api/v1/projects/{project.slug}/workflows/",
        {"name": "Echo", "graph": echo_graph(http_server.url("/echo", host=loopback_name))},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    workflow = Workflow.objects.get(pk=created.json()["id"])
    published = client.post(
        f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "v1"}, content_type="application/json"
    )
    assert published.status_code == 201, published.content
    started = client.post(
        f"/api/v1/projects/{project.slug}/workflows/{workflow.slug}/runs",
        {"inputs": {"message": "hello"}},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    run = execute(started.json()["id"])

    # Every server really got the canary, and the run used what they sent back.
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert http_server.requests[0]["headers"]["Authorization"] == f"Bearer {CANARY}"
    assert set(openai_echo.received) == {f"Bearer {CANARY}"} and len(openai_echo.received) == 3  # llm, agent x2
    assert [r["headers"]["Authorization"] for r in http_server.requests] == [f"Bearer {CANARY}"] * 2
    assert run.outputs["echo"]["headers"]["authorization"] == "Bearer [REDACTED]"
    assert run.outputs["echo"]["headers"]["x-api-key"] == "[REDACTED]"
    assert run.outputs["answer"].startswith("You sent Bearer [REDACTED]")
    assert run.outputs["mcp"]["authorization"] == "Bearer [REDACTED]"
    assert run.outputs["agent"].startswith("You sent Bearer [REDACTED]") and "The tools said:" in run.outputs["agent"]
    assert {"step.token", "step.finished", "run.finished"} <= {event.get("type") for event in broadcast}

    # A template node may not read a secret: refused (or failed) without the value anywhere.
    other = client.post(
        f"/api/v1/projects/{project.slug}/workflows/",
        {"name": "Leak", "graph": template_secret_graph()},
        content_type="application/json",
    )
    assert other.status_code in (201, 400), other.content
    texts: dict[str, str] = {"create template workflow": other.content.decode()}
    if other.status_code == 201:
        leak = Workflow.objects.get(pk=other.json()["id"])
        attempt = client.post(
            f"/api/v1/projects/{project.slug}/workflows/{leak.slug}/runs",
            {"inputs": {"name": "x"}, "draft": True},
            content_type="application/json",
        )
        texts["start template run"] = attempt.content.decode()
        if attempt.status_code == 201:
            assert execute(attempt.json()["id"]).status == RunStatus.FAILED

    texts["broadcast"] = json.dumps(broadcast, default=str)
    texts["streamed text"] = "".join(
        str(m["payload"].get("text", "")) for m in broadcast if m.get("type") == "step.token"
    )
    texts["logs"] = caplog.text
    texts.update(_database_text())
    node_ids = [node["id"] for node in run.graph["nodes"]]
    pages = [
        f"/runs/{run.pk}/",
        f"/p/{project.slug}/w/{workflow.slug}/",
        f"/p/{project.slug}/w/{workflow.slug}/edit/",
        f"/p/{project.slug}/w/{workflow.slug}/edit/runs/",
        f"/p/{project.slug}/w/{workflow.slug}/history/",
        f"/p/{project.slug}/",
        f"/runs/{run.pk}/live/",
        *[f"/runs/{run.pk}/steps/{n}/" for n in node_ids],
    ]
    api = [
        f"/api/v1/runs/{run.pk}",
        f"/api/v1/projects/{project.slug}/runs",
        f"/api/v1/runs/{run.pk}/events",
        f"/api/v1/workflows/{workflow.pk}/",
        f"/api/v1/workflows/{workflow.pk}/versions/1/",
        *[f"/api/v1/workflows/{workflow.pk}/export/?format={fmt}" for fmt in ("json", "yaml", "python")],
        *[f"/api/v1/workflows/{workflow.pk}/export/?format={fmt}&version=1" for fmt in ("json", "yaml", "python")],
    ]
    for url in [*pages, *api]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        texts[f"GET {url}"] = _body(response)
    server = McpServer.objects.get(slug="echo-mcp")
    tried = client.post(f"/p/{project.slug}/settings/mcp/{server.pk}/test/", {"tool": "whoami", "arguments": "{}"})
    assert tried.status_code == 200 and "[REDACTED]" in tried.content.decode()
    texts["MCP test tool page"] = tried.content.decode()
    validated = client.post(f"/api/v1/workflows/{workflow.pk}/validate/", {}, content_type="application/json")
    texts["validate"] = validated.content.decode()
    for label in ("started", "created", "published"):
        texts[f"response {label}"] = locals()[label].content.decode()
    assert any(str(run.pk) in text for text in texts.values())  # the dump did read the run

    variants = secret_variants(CANARY)
    leaks = sorted({where for where, text in texts.items() for variant in variants if variant in text})
    assert leaks == [], f"the canary leaked into: {leaks}"
    assert Run.objects.filter(project=project).count() >= 1
