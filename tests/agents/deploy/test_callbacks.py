"""Outbound run callbacks: signed, SSRF-guarded, retried by a real Celery worker after a 500, resend."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from agents.deploy.callbacks import callback_create
from agents.deploy.models import CallbackDelivery, CallbackEndpoint
from agents.deploy.webhooks import webhook_signature
from agents.events import event_append
from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from studio.models import EgressAllowedHost
from tests.conftest import demo_graph


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers 500 to the first request of each delivery id, then 200; records every request."""

    seen: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        first = not any(h.get("X-Studio-Delivery") == self.headers["X-Studio-Delivery"] for h, _ in Receiver.seen)
        Receiver.seen.append((dict(self.headers), body))
        self.send_response(500 if first else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def finish(run: Run, status: str) -> None:
    from django.db import transaction

    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(status=status, outputs={"answer": "Blue.", "confidence": 0.9})
        event_append(run_id=run.pk, type="run.finished", payload={"status": status})


def wait_for(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    return workflow


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_callback_is_signed_and_retried_after_the_receiver_answers_500(qa, alice, receiver, celery_worker_proc):
    host = receiver.split("/")[2]
    EgressAllowedHost.objects.create(host=host)
    endpoint, secret = callback_create(workflow=qa, user=alice, url=receiver)
    run = Run.objects.create(
        project=qa.project,
        workflow=qa,
        version=qa.versions.get(),
        graph=qa.draft_graph,
        inputs={"question": "Sky?"},
        status=RunStatus.RUNNING,
    )
    finish(run, RunStatus.SUCCEEDED)
    delivery = CallbackDelivery.objects.get(endpoint=endpoint, run=run)
    wait_for(lambda: CallbackDelivery.objects.get(pk=delivery.pk).status != "pending")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    headers, body = Receiver.seen[-1]
    assert headers["X-Studio-Signature"] == webhook_signature(secret, headers["X-Studio-Timestamp"], body)
    payload = json.loads(body)
    assert (payload["run"], payload["status"], payload["outputs"]["answer"]) == (run.pk, "succeeded", "Blue.")
    # resend: sent again (the receiver knows this delivery id now and answers 200 at once)
    client = APIClient()
    client.force_authenticate(alice)
    url = f"/api/v1/workflows/{qa.pk}/callbacks/{endpoint.pk}/deliveries/{delivery.pk}/resend"
    assert client.post(url).status_code == 202
    wait_for(lambda: len(Receiver.seen) >= 3 and CallbackDelivery.objects.get(pk=delivery.pk).status == "delivered")
    log = client.get(f"/api/v1/workflows/{qa.pk}/callbacks/{endpoint.pk}/deliveries").json()
    assert log[0]["run"] == run.pk


@pytest.mark.django_db
def test_cancelled_runs_send_nothing_and_private_addresses_are_refused(qa, alice):
    client = APIClient()
    client.force_authenticate(alice)
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://[::ffff:10.0.0.1]/x"):
        response = client.post(f"/api/v1/workflows/{qa.pk}/callbacks", {"url": url}, format="json")
        assert response.status_code == 400, url
        assert response.json()["code"] == "egress_refused"
        assert "url" in response.json()["errors"]
    assert not CallbackEndpoint.objects.exists()
    EgressAllowedHost.objects.create(host="127.0.0.1:9")
    endpoint, _ = callback_create(workflow=qa, user=alice, url="http://127.0.0.1:9/hook")
    run = Run.objects.create(project=qa.project, workflow=qa, graph=qa.draft_graph, status=RunStatus.RUNNING)
    finish(run, RunStatus.CANCELLED)
    assert not CallbackDelivery.objects.filter(endpoint=endpoint).exists()
