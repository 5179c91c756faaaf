"""Fixtures of the effects' tests: a real local HTTP server, a real MCP server, dispatch capture."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


class Recorder(BaseHTTPRequestHandler):
    """Routes: /json, /text, /status/<code>, /redirect?to=<url>&code=<3xx>, /hops/<n> (n redirects),
    /big (6 MB), /slow (sleeps 3 s), /echo (any method: echoes method, headers, body as JSON)."""

    server: LocalServer  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                     "body": body.decode(errors="replace")})
        if self.server.on_request is not None:
            self.server.on_request()
        return body

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        body = self._record()
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path == "/json":
            self._send(200, json.dumps({"ok": True, "items": [1, 2, 3]}).encode())
        elif path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b'{"error": "boom"}')
        elif path == "/redirect":
            from urllib.parse import unquote

            self._send(int(params.get("code", "302")), b"", headers={"Location": unquote(params["to"])})
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/hops/{left - 1}" if left > 0 else "/json"
            self._send(302, b"", headers={"Location": target})
        elif path == "/big":
            self._send(200, b"x" * (6 * 1024 * 1024), "text/plain")
        elif path == "/slow":
            time.sleep(3)
            self._send(200, b"{}")
        elif path == "/echo":
            echo = {"method": self.command, "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body) if body else None}
            self._send(201 if self.command == "POST" else 200, json.dumps(echo).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Recorder)
        self.requests: list[dict[str, Any]] = []
        self.on_request: Callable[[], None] | None = None  # called on the handler's thread for each request

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def allow(self, host: str = "127.0.0.1") -> str:
        """The egress allow-list entry for this server (an entry without a port opens 80/443 only)."""
        return f"{host}:{self.port}"


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 (a free port), recording every request."""
    server = LocalServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MCP server (the SDK's FastMCP, streamable HTTP) on 127.0.0.1; yields its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("mcp") / "mcp_server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "mcp_server_app.py"), str(port)], stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the MCP server did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)  # waiting for a subprocess to bind its port: no event to wait on
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Capture ``run_dispatch`` of ``run_start`` (tests that execute runs in this process, e.g. to read
    their logs): the ids it was asked to dispatch. No worker of the session can pick the run up."""
    ids: list[int] = []
    monkeypatch.setattr("agents.services.runs.run_dispatch", ids.append)
    return ids
