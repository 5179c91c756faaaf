"""The MCP servers API: every member lists, admins and owners add, delete and list tools live (a real server)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import McpServer
from studio.models import AuditEvent, EgressAllowedHost
from studio.workspace import services as ws

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_add_list_tools_and_delete_a_real_server(project, alice, bob, mcp_server):
    EgressAllowedHost.objects.create(host=f"127.0.0.1:{urlsplit(mcp_server).port}")
    ws.secret_create(project=project, actor=alice, name="MCP_HEADERS", value="canary-mcp-93")
    owner = client_for(alice)
    url = reverse("api-mcp-servers", args=["acme"])
    created = post(
        owner, url, {"name": "Test tools", "url": mcp_server, "timeout_s": 20, "headers_secret": "MCP_HEADERS"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["slug"], body["headers_secret"], body["timeout_s"]) == ("test-tools", "MCP_HEADERS", 20.0)
    assert "canary-mcp-93" not in created.content.decode()
    server = McpServer.objects.get(project=project, slug="test-tools")

    viewer = client_for(bob)
    listed = viewer.get(url)
    assert listed.status_code == 200 and [row["slug"] for row in listed.json()] == ["test-tools"]
    assert "canary-mcp-93" not in listed.content.decode()
    one = reverse("api-mcp-server", args=["acme", server.pk])
    tools_url = reverse("api-mcp-server-tools", args=["acme", server.pk])
    assert viewer.get(one).json()["url"] == mcp_server
    assert viewer.delete(one).status_code == 403 and viewer.get(tools_url).status_code == 403
    assert post(viewer, url, {"name": "X", "url": mcp_server}).status_code == 403

    tools = owner.get(tools_url).json()
    assert tools["ok"] is True and tools["error"] == ""
    assert {tool["name"] for tool in tools["tools"]} >= {"add", "shout", "fail"}
    shout = next(tool for tool in tools["tools"] if tool["name"] == "shout")
    assert "text" in shout["input_schema"]["properties"]

    assert owner.delete(one).status_code == 204 and not McpServer.objects.exists()
    verbs = set(AuditEvent.objects.filter(verb__startswith="mcp_server.").values_list("verb", flat=True))
    assert verbs == {"mcp_server.create", "mcp_server.delete"}


def test_unreachable_server_lists_no_tools_with_the_reason(project, alice):
    EgressAllowedHost.objects.create(host="127.0.0.1:9")
    server = McpServer.objects.create(
        project=project, slug="dead", name="Dead", url="http://127.0.0.1:9/mcp", timeout_s=3
    )
    response = client_for(alice).get(reverse("api-mcp-server-tools", args=["acme", server.pk]))
    assert response.status_code == 200
    assert response.json()["ok"] is False and response.json()["tools"] == [] and response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "url": "http://127.0.0.1:9/mcp"}, "url"),
        ({"name": "X", "url": "http://169.254.169.254/mcp"}, "url"),
        ({"name": "X", "url": "file:///etc/passwd"}, "url"),
        ({"name": "X", "url": ""}, "url"),
        ({"name": "", "url": "https://mcp.example.com/mcp"}, "name"),
        ({"name": "X", "url": "https://mcp.example.com/mcp", "timeout_s": 0}, "timeout_s"),
        ({"name": "X", "url": "https://mcp.example.com/mcp", "headers_secret": "NOPE"}, "headers_secret"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(project, alice, body, field):
    response = post(client_for(alice), reverse("api-mcp-servers", args=["acme"]), body)
    assert response.status_code == 400 and field in response.json().get("errors", {}), response.json()
    assert not McpServer.objects.exists() and not AuditEvent.objects.exists()


def test_outsiders_get_404(project, charlie):
    assert client_for(charlie).get(reverse("api-mcp-servers", args=["acme"])).status_code == 404
