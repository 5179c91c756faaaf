"""MCP servers settings tab: add (URL through the egress guard), list tools live from a real MCP server,
test a tool call, edit, delete; admins and owners only."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import McpServer
from studio.models import AuditEvent, EgressAllowedHost

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_add_list_tools_and_test_a_call_on_a_real_server(project, alice, mcp_server):
    EgressAllowedHost.objects.create(host=f"127.0.0.1:{urlsplit(mcp_server).port}")
    client = client_for(alice)
    response = client.post(
        reverse("project-mcp", args=["acme"]), {"name": "Test tools", "url": mcp_server, "timeout_s": "20"}
    )
    assert response.status_code == 302
    server = McpServer.objects.get(project=project, slug="test-tools")
    tools = client.get(reverse("mcp-tools", args=["acme", server.pk]), HTTP_HX_REQUEST="true")
    assert {t["name"] for t in tools.context["tools"]} >= {"add", "shout", "fail"}
    ok = client.post(
        reverse("mcp-test-tool", args=["acme", server.pk]), {"tool": "shout", "arguments": '{"text": "hi"}'}
    )
    assert ok.context["ok"] and ok.context["text"] == "HI"
    failed = client.post(
        reverse("mcp-test-tool", args=["acme", server.pk]), {"tool": "fail", "arguments": '{"reason": "nope"}'}
    )
    assert not failed.context["ok"] and "nope" in failed.context["text"]
    bad = client.post(reverse("mcp-test-tool", args=["acme", server.pk]), {"tool": "add", "arguments": "[1, 2]"})
    assert not bad.context["ok"] and "JSON object" in bad.context["text"]
    verbs = list(AuditEvent.objects.filter(object_id=str(server.pk)).values_list("verb", flat=True))
    assert verbs.count("mcp_server.test_tool") == 2 and "mcp_server.create" in verbs


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/mcp", "Refused"),
        ("http://169.254.169.254/mcp", "Refused"),
        ("file:///etc/passwd", "not allowed"),
        ("", "Enter the server's"),
    ],
)
def test_a_refused_or_malformed_url_is_a_clear_400(project, alice, url, message):
    response = client_for(alice).post(reverse("project-mcp", args=["acme"]), {"name": "X", "url": url})
    assert response.status_code == 400 and message in page_text(response)
    assert not McpServer.objects.exists()


def test_unreachable_server_lists_no_tools_with_the_reason(project, alice):
    EgressAllowedHost.objects.create(host="127.0.0.1:9")
    server = McpServer.objects.create(
        project=project, slug="dead", name="Dead", url="http://127.0.0.1:9/mcp", timeout_s=3
    )
    response = client_for(alice).get(reverse("mcp-tools", args=["acme", server.pk]))
    assert response.context["tools"] == [] and response.context["error"]
    assert "Could not list tools" in page_text(response)


def test_edit_duplicate_slug_and_delete(project, alice):
    EgressAllowedHost.objects.create(host="127.0.0.1:9")
    one = McpServer.objects.create(project=project, slug="one", name="One", url="http://127.0.0.1:9/mcp")
    McpServer.objects.create(project=project, slug="two", name="Two", url="http://127.0.0.1:9/mcp")
    client = client_for(alice)
    clash = client.post(
        reverse("mcp-edit", args=["acme", one.pk]),
        {"name": "One", "slug": "two", "url": "http://127.0.0.1:9/mcp", "timeout_s": "5"},
    )
    assert clash.status_code == 400 and "already exists" in page_text(clash)
    assert client.post(reverse("mcp-delete", args=["acme", one.pk])).status_code == 302
    assert list(McpServer.objects.values_list("slug", flat=True)) == ["two"]


def test_mcp_tab_is_for_admins_only(project, bob, charlie):
    server = McpServer.objects.create(project=project, slug="s", name="S", url="https://mcp.example.com/mcp")
    assert client_for(bob).get(reverse("project-mcp", args=["acme"])).status_code == 403
    assert client_for(bob).post(reverse("mcp-test-tool", args=["acme", server.pk]), {"tool": "x"}).status_code == 403
    assert client_for(charlie).get(reverse("mcp-tools", args=["acme", server.pk])).status_code == 404
