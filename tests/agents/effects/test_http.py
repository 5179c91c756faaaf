"""GuardedHttpClient against a real local HTTP server: guard, pinning, redirects, caps, at-most-once."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync

from agents.effects.http import GuardedHttpClient
from agents.engine.nodes import NodeError
from agents.engine.protocols import HttpRequest
from agents.models import Run, SideEffect, SideEffectStatus, Workflow
from studio.lib.ssrf import EgressRefused
from studio.models import EgressAllowedHost, Project


def call(client: GuardedHttpClient, request: HttpRequest) -> Any:
    return async_to_sync(client.request)(request)


def make_run(project: Project) -> Run:
    workflow = Workflow.objects.create(project=project, slug="wf", name="WF")
    return Run.objects.create(project=project, workflow=workflow, graph={}, status="running", attempt=1)


def test_get_returns_decoded_json_and_text(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    response = call(client, HttpRequest("GET", http_server.url("/json")))
    assert response.status == 200
    assert response.body == {"ok": True, "items": [1, 2, 3]}
    assert response.headers["content-type"] == "application/json"
    assert call(client, HttpRequest("GET", http_server.url("/text"))).body == "héllo"


def test_a_local_server_is_refused_unless_allowed_and_never_contacted(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[])
    with pytest.raises(PermissionError, match=r"127\.0\.0\.1.*loopback"):
        call(client, HttpRequest("GET", http_server.url("/json")))
    with pytest.raises(PermissionError):
        call(client, HttpRequest("GET", http_server.url("/json", host="localhost")))
    assert http_server.requests == []


@pytest.mark.django_db
def test_the_allow_list_comes_from_the_admin_managed_table(http_server, project):
    other = Project.objects.create(slug="other", name="Other")
    EgressAllowedHost.objects.create(project=other, host=http_server.allow())
    with pytest.raises(PermissionError):
        call(GuardedHttpClient(project_id=project.pk), HttpRequest("GET", http_server.url("/json")))
    EgressAllowedHost.objects.create(project=project, host="127.0.0.1", note="no port: 80 and 443 only")
    with pytest.raises(PermissionError):
        call(GuardedHttpClient(project_id=project.pk), HttpRequest("GET", http_server.url("/json")))
    EgressAllowedHost.objects.create(project=project, host=http_server.allow(), note="the test server")
    assert call(GuardedHttpClient(project_id=project.pk), HttpRequest("GET", http_server.url("/json"))).status == 200
    EgressAllowedHost.objects.all().delete()
    EgressAllowedHost.objects.create(project=None, host=f"LOCALHOST.:{http_server.port}")  # global, normalized
    assert EgressAllowedHost.objects.get().host == f"localhost:{http_server.port}"
    response = call(GuardedHttpClient(project_id=project.pk), HttpRequest("GET", http_server.url("/json", "localhost")))
    assert response.status == 200


def test_redirects_are_followed_and_every_hop_is_checked(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    response = call(client, HttpRequest("GET", http_server.url("/hops/4")))  # /hops/4 → … → /hops/0 → /json
    assert response.body == {"ok": True, "items": [1, 2, 3]}
    assert len(http_server.requests) == 6  # five redirects, then the answer

    to_metadata = http_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    with pytest.raises(PermissionError, match="cloud metadata"):
        call(client, HttpRequest("GET", to_metadata))
    to_localhost = http_server.url(f"/redirect?to=http://localhost:{http_server.port}/json")
    with pytest.raises(PermissionError, match="localhost"):
        call(client, HttpRequest("GET", to_localhost))


def test_more_than_five_redirects_fail_the_request(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    with pytest.raises(NodeError) as caught:
        call(client, HttpRequest("GET", http_server.url("/hops/5")))
    assert caught.value.code == "too_many_redirects"
    assert len(http_server.requests) == 6


def test_a_redirect_to_another_origin_drops_secret_headers(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow(), http_server.allow("localhost")])
    target = f"http://localhost:{http_server.port}/echo"
    response = call(client, HttpRequest("GET", http_server.url(f"/redirect?to={target}"),
                                        headers={"X-Api-Key": "s3cret", "Authorization": "Bearer t",
                                                 "Accept": "application/json"}))
    assert response.body["headers"]["accept"] == "application/json"
    assert "x-api-key" not in response.body["headers"]
    assert "authorization" not in response.body["headers"]
    assert response.body["headers"]["host"] == f"localhost:{http_server.port}"
    same_origin = call(client, HttpRequest("GET", http_server.url("/redirect?to=/echo"), headers={"X-Api-Key": "k"}))
    assert same_origin.body["headers"]["x-api-key"] == "k"


def test_a_303_turns_a_post_into_a_get_and_a_307_keeps_it(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    see_other = call(client, HttpRequest("POST", http_server.url("/redirect?code=303&to=/echo"), json={"a": 1}))
    assert see_other.body["method"] == "GET" and see_other.body["body"] is None
    temporary = call(client, HttpRequest("POST", http_server.url("/redirect?code=307&to=/echo"), json={"a": 1}))
    assert temporary.body["method"] == "POST" and temporary.body["body"] == {"a": 1}


def test_the_response_size_is_capped(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()], max_response_bytes=5 * 1024 * 1024)
    with pytest.raises(NodeError) as caught:
        call(client, HttpRequest("GET", http_server.url("/big")))
    assert caught.value.code == "response_too_large"


def test_the_timeout_is_enforced(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    with pytest.raises(TimeoutError, match=r"timed out after 0\.5 s"):
        call(client, HttpRequest("GET", http_server.url("/slow"), timeout_s=0.5))


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = GuardedHttpClient(project_id=None, allowed_hosts=[f"127.0.0.1:{port}"])
        with pytest.raises(ConnectionError):
            call(client, HttpRequest("GET", f"http://127.0.0.1:{port}/"))


def test_a_5xx_is_returned_for_the_node_to_treat_as_transient(http_server):
    client = GuardedHttpClient(project_id=None, allowed_hosts=[http_server.allow()])
    response = call(client, HttpRequest("GET", http_server.url("/status/503")))
    assert response.status == 503 and response.body == {"error": "boom"}


def test_the_connection_is_pinned_to_the_checked_address(monkeypatch):
    """DNS rebinding: the name resolves to a public address for the check and to
    127.0.0.1 afterwards; the connection still goes to the checked address, with
    the original Host header and TLS server name."""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"pinned": True})

    client = GuardedHttpClient(project_id=None, allowed_hosts=[], transport=httpx.MockTransport(handler))
    response = call(client, HttpRequest("GET", "https://rebind.example:8443/v1?x=1"))
    assert response.body == {"pinned": True}
    assert lookups == ["rebind.example"]  # resolved once, by the guard
    (sent,) = seen
    assert sent.url.host == "93.184.216.34" and sent.url.port == 8443 and sent.url.query == b"x=1"
    assert sent.headers["host"] == "rebind.example:8443"
    assert sent.extensions["sni_hostname"] == "rebind.example"


def test_a_name_resolving_to_loopback_is_refused_before_connecting(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::ffff:127.0.0.1", port, 0, 0))])
    seen: list[httpx.Request] = []
    client = GuardedHttpClient(project_id=None, allowed_hosts=[],
                               transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    with pytest.raises(EgressRefused, match=r"IPv4-mapped form of 127\.0\.0\.1"):
        call(client, HttpRequest("GET", "http://sneaky.example/"))
    assert seen == []


# ---------------------------------------------------------------- at most once


@pytest.mark.django_db(transaction=True)
def test_a_side_effecting_request_is_committed_before_it_is_sent_and_never_resent(http_server, project):
    run = make_run(project)
    seen_rows: list[list[tuple[str, str]]] = []

    def look_at_the_ledger() -> None:  # runs on the server's thread, on its own DB connection
        from django.db import connection

        seen_rows.append(list(SideEffect.objects.values_list("key", "status")))
        connection.close()

    http_server.on_request = look_at_the_ledger
    client = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=1, allowed_hosts=[http_server.allow()])
    request = HttpRequest("POST", http_server.url("/echo?token=abc"), json={"n": 1}, idempotency_key="notify:")
    assert call(client, request).status == 201
    assert seen_rows == [[("notify:", "sending")]]  # committed before the request reached the server
    row = SideEffect.objects.get(run=run)
    assert (row.status, row.response_status, row.url, row.method) == ("answered", 201, http_server.url("/echo"), "POST")

    resumed = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=2, allowed_hosts=[http_server.allow()])
    with pytest.raises(NodeError) as caught:
        call(resumed, request)
    assert caught.value.code == "already_sent"
    assert "already sent" in caught.value.message and "Idempotency-Key" in caught.value.message
    assert [r["method"] for r in http_server.requests] == ["POST"]


@pytest.mark.django_db(transaction=True)
def test_after_a_crash_mid_request_the_resumed_step_refuses_to_resend(http_server, project):
    run = make_run(project)
    # What a worker killed after committing "sending" leaves behind:
    SideEffect.objects.create(run=run, key="charge:", method="POST", url=http_server.url("/echo"), attempt=1)
    client = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=2, allowed_hosts=[http_server.allow()])
    with pytest.raises(NodeError, match="its outcome is unknown"):
        call(client, HttpRequest("POST", http_server.url("/echo"), json={}, idempotency_key="charge:"))
    assert http_server.requests == []


@pytest.mark.django_db(transaction=True)
def test_an_idempotency_key_header_allows_resending(http_server, project):
    run = make_run(project)
    client = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=1, allowed_hosts=[http_server.allow()])
    request = HttpRequest("PUT", http_server.url("/echo"), headers={"Idempotency-Key": "order-42"}, json={"n": 1},
                          idempotency_key="put:")
    call(client, request)
    second = call(client, request)
    assert second.body["headers"]["idempotency-key"] == "order-42"
    assert SideEffect.objects.get(run=run).sends == 2
    assert [r["method"] for r in http_server.requests] == ["PUT", "PUT"]


@pytest.mark.django_db(transaction=True)
def test_a_request_that_never_connected_may_be_retried(project):
    run = make_run(project)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        allowed = [f"127.0.0.1:{sock.getsockname()[1]}"]
        client = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=1, allowed_hosts=allowed)
        request = HttpRequest("POST", url, json={}, idempotency_key="hook:")
        for _ in range(2):
            with pytest.raises(ConnectionError):
                call(client, request)
    row = SideEffect.objects.get(run=run)
    assert (row.status, row.sends) == (SideEffectStatus.NOT_SENT, 2)


@pytest.mark.django_db(transaction=True)
def test_get_requests_are_not_in_the_ledger(http_server, project):
    run = make_run(project)
    client = GuardedHttpClient(project_id=project.pk, run_id=run.pk, attempt=1, allowed_hosts=[http_server.allow()])
    call(client, HttpRequest("GET", http_server.url("/json")))
    call(client, HttpRequest("GET", http_server.url("/json")))
    assert not SideEffect.objects.exists()
    assert len(http_server.requests) == 2
