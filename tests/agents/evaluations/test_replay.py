"""Deterministic replay on a real Celery worker: a ``--replay=fill`` suite run records the local model's
answers, a ``--replay`` run answers every call from them without one request reaching the model server
(counted by a real HTTP proxy in front of it), and a changed prompt fails with "no recording for this call"."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from agents.evaluations.models import CaseStatus, SuiteRun, SuiteRunStatus
from agents.evaluations.services import suite_case_add, suite_check_add
from agents.models import Run, Workflow
from studio.models import EgressAllowedHost
from tests.conftest import demo_graph
from tests.fixtures.services import free_port
from traces.models import CallRecording, ReplayMode, Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.model]

PROXY_PORT = free_port()  # a free port, taken when the module loads


class CountingProxy:
    """A real HTTP proxy on 127.0.0.1 in front of the local model server that counts the requests it forwards."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                proxy.requests.append(self.path)
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                content = answer.read()
                upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", PROXY_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{PROXY_PORT}/v1"


@pytest.fixture
def proxy(local_model: str) -> Iterator[CountingProxy]:
    counting = CountingProxy(local_model)
    yield counting
    counting.server.shutdown()
    counting.server.server_close()


@pytest.fixture
def qa(project: Any, local_endpoint: Any, alice: Any, proxy: CountingProxy) -> Workflow:
    local_endpoint.api_base = proxy.url
    local_endpoint.save()
    EgressAllowedHost.objects.create(project=project, host=f"127.0.0.1:{PROXY_PORT}", note="the counting proxy")
    workflow = Workflow.objects.create(
        project=project,
        slug="question-answering",
        name="Question answering",
        draft_graph=demo_graph("question-answering"),
    )
    suite_check_add(
        workflow=workflow, user=alice, name="answers", kind="regex", config={"field": "answer", "pattern": r"\w"}
    )
    suite_case_add(workflow=workflow, user=alice, name="sky", inputs={"question": "What colour is the sky?"})
    suite_case_add(workflow=workflow, user=alice, name="france", inputs={"question": "What is the capital of France?"})
    return workflow


def _cli(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("test_workflow", "question-answering", "--project", "acme", "--draft", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def _outputs(suite_run: SuiteRun) -> dict[str, Any]:
    return {r.name: r.outputs for r in suite_run.results.all()}


def test_fill_records_then_replay_makes_zero_model_calls_and_a_changed_prompt_has_no_recording(
    qa, proxy, celery_worker_proc
):
    # 1. --replay=fill with nothing recorded: every call goes to the model and is recorded.
    code, out = _cli("--replay=fill")
    assert code == 0, out
    filled = SuiteRun.objects.get()
    assert filled.status == SuiteRunStatus.PASSED
    calls = len(proxy.requests)
    assert calls >= 2 and all(path.endswith("/chat/completions") for path in proxy.requests)
    assert CallRecording.objects.filter(project=qa.project, endpoint_slug="local").count() >= 2
    assert set(Run.objects.values_list("replay", flat=True)) == {ReplayMode.FILL}
    recorded = CallRecording.objects.first()
    assert recorded is not None and recorded.model == "openai/smollm2" and recorded.response["text"]

    # 2. --replay: the same results, and not one request reaches the model server; the spans say replayed.
    proxy.requests.clear()
    code, out = _cli("--replay")
    assert code == 0, out
    replayed = SuiteRun.objects.exclude(pk=filled.pk).get()
    assert proxy.requests == []
    assert replayed.status == SuiteRunStatus.PASSED
    assert _outputs(replayed) == _outputs(filled)
    assert all(o["answer"] for o in _outputs(replayed).values())
    assert replayed.cost_usd == 0 and "cost $0.000000" in out
    run_ids = list(replayed.results.values_list("run_id", flat=True))
    spans = list(Span.objects.filter(run_id__in=run_ids, kind="chat"))
    assert spans and all(s.output["replayed"] is True for s in spans)
    assert all(s.cost_usd == 0 and s.input_tokens == 0 and s.price_source == "replay" for s in spans)
    assert all(s.output["recorded_usage"]["input_tokens"] > 0 for s in spans)
    assert Run.objects.filter(pk__in=run_ids, input_tokens=0, output_tokens=0).count() == 2

    # 3. A changed prompt: its calls have no recording; --replay fails each case saying so, still no request.
    graph = qa.draft_graph
    graph["nodes"][1]["config"]["instructions"] = "Answer in one word."
    qa.draft_graph = graph
    qa.save()
    code, out = _cli("--replay")
    assert code == 1, out
    assert proxy.requests == []
    changed = SuiteRun.objects.order_by("-id").first()
    assert changed is not None and changed.status == SuiteRunStatus.FAILED
    for result in changed.results.all():
        assert result.status == CaseStatus.FAILED
        assert "No recording for this call" in result.error, result.error
    assert "FAIL sky:" in out and "No recording for this call" in out
    failed_span = Span.objects.filter(run_id=changed.results.first().run_id, error_code="no_recording").first()
    assert failed_span is not None and "--replay=fill" in failed_span.error
