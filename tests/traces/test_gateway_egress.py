"""An endpoint's ``api_base`` passes the egress guard at every call, not only when it is saved:
an allow-list entry removed, a name that now resolves to a private address (DNS rebinding), or a
LiteLLM provider pointed at loopback are refused with ``egress_refused`` and nothing reaches the
server; an allowed name is resolved once and the connection pinned to the checked address."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from studio.models import EgressAllowedHost
from tests.traces.helpers import QUESTION, SHORT, call
from traces.gateway import GatewayError, SpanContext, complete, list_models
from traces.models import ModelEndpoint, Span, StructuredOutput

pytestmark = pytest.mark.django_db


class _Server(ThreadingHTTPServer):
    requests: list[tuple[str, str, str]]  # method, path, Host header


class _Handler(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: one fixed chat answer and a model list."""

    server: _Server

    def _send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, self.headers.get("Host", "")))
        self._send({"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(("POST", self.path, self.headers.get("Host", "")))
        self._send(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "tiny",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            }
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _endpoint(project: Any, api_base: str, model: str = "openai/tiny") -> ModelEndpoint:
    # Saved directly: as if it had passed the guard at save time (a public address then, or an entry since removed).
    return ModelEndpoint.objects.create(
        project=project,
        slug="tiny",
        name="Tiny",
        model=model,
        api_base=api_base,
        structured_output=StructuredOutput.PROMPT_ONLY,
        input_price_per_mtok=0,
        output_price_per_mtok=0,
        timeout_s=5,
    )


def _ask(project: Any, endpoint: ModelEndpoint) -> Any:
    context = SpanContext(project_id=project.pk, trace_id=None, name="egress test")
    return call(complete, endpoint=endpoint, messages=QUESTION, params=SHORT, context=context)


def test_removing_the_allow_list_entry_stops_the_next_call(project, model_server):
    port = model_server.server_address[1]
    entry = EgressAllowedHost.objects.create(project=project, host=f"127.0.0.1:{port}")
    endpoint = _endpoint(project, f"http://127.0.0.1:{port}/v1")
    assert _ask(project, endpoint).text == "Paris"
    assert call(list_models, endpoint=endpoint) == ["tiny"]
    assert [r[:2] for r in model_server.requests] == [("POST", "/v1/chat/completions"), ("GET", "/v1/models")]

    entry.delete()
    with pytest.raises(GatewayError) as refused:
        _ask(project, endpoint)
    assert refused.value.code == "egress_refused" and not refused.value.transient
    assert "127.0.0.1 is not allowed (loopback)" in str(refused.value)
    with pytest.raises(GatewayError) as listing:
        call(list_models, endpoint=endpoint)
    assert listing.value.code == "egress_refused"
    assert len(model_server.requests) == 2  # nothing more reached the server
    span = Span.objects.filter(error_code="egress_refused").get()
    assert span.status == "error"


def test_a_name_rebound_to_loopback_after_save_is_refused_at_call_time(project, model_server, monkeypatch):
    port = model_server.server_address[1]
    lookups: list[str] = []
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "models.example":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    endpoint = _endpoint(project, f"http://models.example:{port}/v1")
    with pytest.raises(GatewayError) as refused:
        _ask(project, endpoint)
    assert refused.value.code == "egress_refused"
    assert "models.example resolves to 127.0.0.1" in str(refused.value)
    assert lookups and model_server.requests == []


def test_an_allowed_name_is_resolved_once_and_the_connection_pinned(project, model_server, monkeypatch):
    """The guard's lookup answers 127.0.0.1 (allowed by name); any later lookup would answer an
    unroutable address. The call succeeds: the SDK connected to the checked address and did not
    resolve the name again, and the server saw the original Host header."""
    port = model_server.server_address[1]
    answers = iter(["127.0.0.1"] + ["10.255.255.1"] * 10)
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "pinned.example":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    EgressAllowedHost.objects.create(project=project, host=f"pinned.example:{port}")
    endpoint = _endpoint(project, f"http://pinned.example:{port}/v1")
    assert _ask(project, endpoint).text == "Paris"
    assert lookups == ["pinned.example"]
    assert model_server.requests == [("POST", "/v1/chat/completions", f"pinned.example:{port}")]


def test_a_litellm_provider_at_a_loopback_api_base_is_refused_before_the_call(project, model_server):
    port = model_server.server_address[1]
    endpoint = _endpoint(project, f"http://127.0.0.1:{port}", model="ollama_chat/tiny")
    with pytest.raises(GatewayError) as refused:
        _ask(project, endpoint)
    assert refused.value.code == "egress_refused"
    assert model_server.requests == []
