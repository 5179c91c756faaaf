"""DjangoMcpClient against a real MCP server (the SDK's FastMCP over streamable HTTP) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync

from agents.effects.mcp import DjangoMcpClient, server_headers
from agents.models import McpServer, RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from studio.crypto import secret_create
from studio.models import EgressAllowedHost
from tests.agents.effects.helpers import graph

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tools_server(project, mcp_server):
    port = urlsplit(mcp_server).port
    EgressAllowedHost.objects.create(project=project, host=f"127.0.0.1:{port}", note="the test MCP server")
    return McpServer.objects.create(project=project, slug="tools", name="Test tools", url=mcp_server, timeout_s=20)


def test_list_tools_returns_names_descriptions_and_schemas(project, tools_server):
    tools = {tool.name: tool for tool in async_to_sync(DjangoMcpClient(project_id=project.pk).list_tools)("tools")}
    assert set(tools) == {"add", "describe", "shout", "fail"}
    assert tools["add"].description == "Add two integers."
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
    assert tools["add"].input_schema["required"] == ["a", "b"]


def test_call_tool_returns_decoded_results(project, tools_server):
    client = DjangoMcpClient(project_id=project.pk)
    assert async_to_sync(client.call_tool)("tools", "add", {"a": 2, "b": 3}) == 5
    assert async_to_sync(client.call_tool)("tools", "describe", {"name": "ada"}) == {"name": "ada", "length": 3}
    assert async_to_sync(client.call_tool)("tools", "shout", {"text": "hi"}) == "HI"


def test_tool_errors_and_unknown_names(project, tools_server):
    client = DjangoMcpClient(project_id=project.pk)
    with pytest.raises(RuntimeError, match="nope"):
        async_to_sync(client.call_tool)("tools", "fail", {"reason": "nope"})
    with pytest.raises(LookupError, match="no tool 'missing'"):
        async_to_sync(client.call_tool)("tools", "missing", {})
    with pytest.raises(LookupError, match="does not exist"):
        async_to_sync(client.list_tools)("other-server")


def test_the_server_url_passes_the_egress_guard(project, mcp_server):
    McpServer.objects.create(project=project, slug="tools", name="Tools", url=mcp_server)
    with pytest.raises(PermissionError, match="loopback"):
        async_to_sync(DjangoMcpClient(project_id=project.pk).list_tools)("tools")
    McpServer.objects.create(project=project, slug="meta", name="Meta", url="http://169.254.169.254/mcp")
    with pytest.raises(PermissionError, match="cloud metadata"):
        async_to_sync(DjangoMcpClient(project_id=project.pk, allowed_hosts=["127.0.0.1"]).list_tools)("meta")


def test_an_unreachable_server_is_a_connection_error(project):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        McpServer.objects.create(project=project, slug="down", name="Down", url=url, timeout_s=3)
        with pytest.raises(ConnectionError, match="'down'"):
            allowed = [f"127.0.0.1:{sock.getsockname()[1]}"]
            async_to_sync(DjangoMcpClient(project_id=project.pk, allowed_hosts=allowed).list_tools)("down")


def test_the_headers_secret_is_a_json_object_or_a_bearer_token(project):
    as_json = secret_create(project=project, name="MCP_HEADERS", value=json.dumps({"X-Api-Key": "k1"}))
    as_token = secret_create(project=project, name="MCP_TOKEN", value="tok-123\n")
    server = McpServer(project=project, slug="s", name="S", url="https://mcp.example/mcp")
    assert server_headers(server) == {}
    server.headers_secret = as_json
    assert server_headers(server) == {"X-Api-Key": "k1"}
    server.headers_secret = as_token
    assert server_headers(server) == {"Authorization": "Bearer tok-123"}


@pytest.mark.worker
def test_a_tool_node_calls_the_mcp_server_on_a_worker(project, alice, tools_server, celery_worker_proc):
    doc = graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [{"name": "name", "type": "str"}]}},
            {"id": "describe", "type": "tool",
             "config": {"server": "tools", "tool": "describe", "result_type": "object",
                        "inputs": [{"name": "name", "type": "str"}]}},
            {"id": "output", "type": "output", "config": {"fields": [{"name": "info", "type": "object"}]}},
        ],
        [("input", "name", "describe", "name"), ("describe", "result", "output", "info")],
    )
    workflow = Workflow.objects.create(project=project, slug="mcp", name="MCP", draft_graph=doc)
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"name": "grace"}).pk, timeout_s=120)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"info": {"name": "grace", "length": 5}}
