"""A BENCHMARK FIXTURE: an OpenAI-compatible chat server that answers after a fixed delay.

It is not a model. It exists so benchmarks can measure Studio's own overhead
(the time not spent waiting on a model) and its parallelism (20 branches
against a server that takes 200 ms per call). It answers
``/v1/chat/completions`` with a JSON object that fits the requested schema
(``response_format.schema`` or ``json_schema.schema``), or with plain text,
and reports usage of 10 input and 5 output tokens.

It keeps connections alive (HTTP/1.1) and queues up to
:data:`LISTEN_BACKLOG` connections: with ``socketserver``'s default backlog
of 5, a 20-branch burst lost connections (read errors, 1.2-1.4 s walls).
``python -m bench.fixture_llm_server --delay 0.2`` serves from a process of
its own (so its threads do not compete for the measured process's GIL) and
prints its port.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Pending connections the fixture's listening socket queues (``listen()`` backlog).
LISTEN_BACKLOG = 512


def sample_for(schema: dict[str, Any]) -> Any:
    """A minimal value of the JSON Schema ``schema`` (objects, arrays, scalars, enums)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        return {name: sample_for(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample_for(schema.get("items", {}))]
    return {"string": "ok", "number": 0.5, "integer": 1, "boolean": True, "null": None}.get(kind, "ok")


def _schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object" and "schema" in fmt:
        return fmt["schema"]
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return None


def make_server(delay_s: float, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 answering every chat completion after ``delay_s`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the body
        # until the client's delayed ACK (~40 ms per call on a kept-alive connection).
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._send({"object": "list", "data": [{"id": "fixture", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if delay_s:
                time.sleep(delay_s)
            schema = _schema_of(body)
            content = json.dumps(sample_for(schema)) if schema else "ok"
            if body.get("stream"):
                self._stream(body, content)
                return
            self._send(
                {
                    "id": "chatcmpl-fixture",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fixture"),
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            )

        def _stream(self, body: dict[str, Any], content: str) -> None:
            """Server-sent events as OpenAI streams them: one content chunk, a usage chunk, [DONE]."""
            base = {
                "id": "chatcmpl-fixture",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "fixture"),
            }
            chunks = [
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}
                    ],
                },
                {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}},
            ]
            data = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
            raw = data.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _send(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        request_queue_size = LISTEN_BACKLOG
        daemon_threads = True

    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_process(delay_s: float) -> tuple[subprocess.Popen[str], int]:
    """The fixture in a child process answering after ``delay_s`` s: ``(process, port)``. Terminate it when done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fixture_llm_server", "--delay", str(delay_s)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"the fixture server did not start: {line!r}")
    return proc, int(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = parser.parse_args()
    server = make_server(args.delay, args.port)
    print(server.server_address[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
