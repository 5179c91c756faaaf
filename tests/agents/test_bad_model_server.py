"""A model server that answers garbage fails the run with a reason — never a run stuck in running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.models import Run, RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from studio.models import EgressAllowedHost
from tests.conftest import demo_graph

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture(params=["not-json", "wrong-shape", "html-500"])
def garbage_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A broken OpenAI-compatible server on 127.0.0.1 (each param a different kind of garbage)."""
    kind = request.param

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, body, ctype = {
                "not-json": (200, b"this is not json at all", "application/json"),
                "wrong-shape": (200, b'{"hello": "world"}', "application/json"),
                "html-500": (500, b"<html><body>Internal error</body></html>", "text/html"),
            }[kind]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_model_server_answering_garbage_fails_the_run_with_a_reason(
    garbage_server, project, alice, local_endpoint, celery_worker_proc
):
    local_endpoint.api_base = garbage_server
    EgressAllowedHost.objects.create(project=project, host=garbage_server.split("/")[2], note="the garbage server")
    local_endpoint.timeout_s = 10
    local_endpoint.save()
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"question": "Why?"}).pk, timeout_s=180)
    assert run.status == RunStatus.FAILED
    assert run.failed_node == "answerer"
    assert 'Node "Answerer" (answerer)' in run.error
    assert run.steps.get(node_id="answerer").status == "failed"
    assert not Run.objects.filter(status=RunStatus.RUNNING).exists()
