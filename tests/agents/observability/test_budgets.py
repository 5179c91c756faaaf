"""Monthly project budget: settings, warnings (banner, audit event, signed webhook through the egress
guard) and the hard stop that refuses new runs (page message, API 402)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import BudgetAlert, Run, Workflow
from agents.services.budgets import budget_alerts_after_run, budget_status, budget_webhook_send, webhook_signature
from studio.crypto import secret_create
from studio.models import AuditEvent, EgressAllowedHost, Project
from tests.agents.observability.helpers import make_run
from tests.fixtures.services import free_port

WEBHOOK_PORT = free_port()  # a free port, taken when the module loads


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _budget(project: Project, **fields: Any) -> Project:
    defaults = {"budget_monthly_usd": Decimal("1.00"), "budget_warn_at": "50,80,100"}
    Project.objects.filter(pk=project.pk).update(**{**defaults, **fields})
    project.refresh_from_db()
    return project


SETTINGS = {
    "name": "Acme",
    "description": "",
    "max_running_runs": "4",
    "default_budget_tokens": "",
    "default_budget_usd": "",
    "default_timeout_s": "",
    "budget_webhook_url": "",
    "budget_webhook_secret": "",
}


def test_settings_page_saves_and_validates_the_budget(project: Project, alice: Any) -> None:
    client = _client(alice)
    url = reverse("project-settings", args=["acme"])
    response = client.post(
        url, {**SETTINGS, "budget_monthly_usd": "25", "budget_warn_at": "90, 50%, 50", "budget_hard_stop": "on"}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.budget_monthly_usd, project.budget_warn_at, project.budget_hard_stop) == (
        Decimal("25.00"),
        "50,90",
        True,
    )
    assert AuditEvent.objects.filter(verb="project.update", data__fields__contains=["budget_monthly_usd"]).exists()
    for field, value, message in [
        ("budget_warn_at", "lots", "Enter whole percents"),
        ("budget_warn_at", "0, 150", "from 1 to 100"),
        ("budget_monthly_usd", "-3", "Enter an amount above 0"),
        ("budget_webhook_url", "ftp://example.com/x", "scheme"),
        ("budget_webhook_secret", "NOPE", "no secret named NOPE"),
    ]:
        bad = client.post(url, {**SETTINGS, "budget_monthly_usd": "25", "budget_warn_at": "80", field: value})
        assert bad.status_code == 400 and message in bad.content.decode(), (field, value)
    project.refresh_from_db()
    assert project.budget_warn_at == "50,90"  # nothing partial was stored
    page = client.get(url).content.decode()
    assert 'name="budget_monthly_usd"' in page and "checked" in page


def test_thresholds_warn_once_a_month_with_an_audit_event_and_a_banner(
    research: Workflow, alice: Any, project: Project
) -> None:
    _budget(project)
    make_run(research, alice, cost="0.85")
    alerts = budget_alerts_after_run(project.pk)
    assert [a.percent for a in alerts] == [50, 80]
    assert budget_alerts_after_run(project.pk) == []  # once per threshold per month
    events = AuditEvent.objects.filter(verb="budget.threshold").order_by("id")
    assert [e.data["percent"] for e in events] == [50, 80] and events[0].data["budget_usd"] == "1.00"
    status = budget_status(project)
    assert status is not None and status.reached == 80 and not status.stopped
    body = _client(alice).get(reverse("project-home", args=["acme"])).content.decode()
    assert 'id="budget-banner"' in body and "85 % of this month&#x27;s budget is spent" in body


def test_hard_stop_refuses_new_runs_on_the_page_and_the_api(
    research: Workflow, alice: Any, project: Project, local_endpoint: Any
) -> None:
    _budget(project, budget_hard_stop=True)
    done = make_run(research, alice, cost="1.20")
    client = _client(alice)
    page = client.post(reverse("workflow-run", args=["acme", "research-brief"]), {"input-topic": "tides"})
    assert page.status_code == 400 and "monthly budget of $1.00 is spent" in page.content.decode()
    api = client.post(
        reverse("api-run-create", args=["acme", "research-brief"]),
        data=json.dumps({"inputs": {"topic": "tides"}}),
        content_type="application/json",
    )
    assert api.status_code == 402 and api.json()["code"] == "project_budget_exceeded"
    rerun = client.post(
        reverse("api-run-rerun", args=[done.pk]),
        data=json.dumps({"node_id": "writer"}),
        content_type="application/json",
    )
    assert rerun.status_code == 402
    assert Run.objects.count() == 1  # nothing started
    assert "New runs are refused" in client.get(reverse("project-home", args=["acme"])).content.decode()
    Project.objects.filter(pk=project.pk).update(budget_hard_stop=False)
    ok = client.post(
        reverse("api-run-create", args=["acme", "research-brief"]),
        data=json.dumps({"inputs": {"topic": "tides"}}),
        content_type="application/json",
    )
    assert ok.status_code == 201


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Any:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", WEBHOOK_PORT), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def test_webhook_is_signed_sent_once_and_only_where_the_egress_guard_allows(
    research: Workflow, alice: Any, project: Project, receiver: list[Any]
) -> None:
    secret_create(project=project, name="HOOK_KEY", value="s3cret-signing-key")
    _budget(project, budget_webhook_url=f"http://127.0.0.1:{WEBHOOK_PORT}/hook", budget_webhook_secret="HOOK_KEY")
    make_run(research, alice, cost="0.6")
    (alert,) = budget_alerts_after_run(project.pk)
    assert alert.webhook_status == "pending"
    refused = budget_webhook_send(alert.pk)  # loopback is not allowed for this project yet
    assert refused.startswith("failed:") and "EgressRefused" in refused and receiver == []
    BudgetAlert.objects.filter(pk=alert.pk).update(webhook_status="pending")
    EgressAllowedHost.objects.create(project=project, host=f"127.0.0.1:{WEBHOOK_PORT}")
    assert budget_webhook_send(alert.pk) == "sent"
    assert budget_webhook_send(alert.pk) == "sent" and len(receiver) == 1  # idempotent
    headers, body = receiver[0]
    assert json.loads(body) == {
        "type": "budget.threshold",
        "project": "acme",
        "month": alert.month.isoformat(),
        "percent": 50,
        "spent_usd": "0.60000000",
        "budget_usd": "1.00",
        "hard_stop": False,
    }
    expected = hmac.new(
        b"s3cret-signing-key", headers["X-Studio-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Studio-Signature"] == f"sha256={expected}"
    assert webhook_signature("k", "1", b"{}") == "sha256=" + hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()


def test_the_banner_shows_on_prompts_and_settings_pages_too(research: Workflow, alice: Any, project: Project) -> None:
    _budget(project)
    make_run(research, alice, cost="0.85")
    client = _client(alice)
    for name in ("project-home", "prompt-list", "project-settings", "project-keys"):
        body = client.get(reverse(name, args=["acme"])).content.decode()
        assert 'id="budget-banner"' in body and "85 % of this month&#x27;s budget is spent" in body, name
    assert 'id="budget-banner"' not in client.get(reverse("project-new")).content.decode()  # outside a project
