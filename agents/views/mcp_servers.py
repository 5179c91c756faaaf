"""MCP servers settings tab (``/p/<project>/settings/mcp/``): add, edit, delete, list tools live, test a tool call.

Admins and owners (``manage``). Servers are fetched by id inside the
already-accessed project (a server of another project is a 404). Listing
tools and testing a call answer htmx with fragments.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.models import McpServer
from agents.services import mcp_servers as svc
from studio.models import Project
from studio.selectors import access_project
from studio.workspace.selectors import project_secrets
from studio.workspace.views import page

FIELDS = ("name", "slug", "url", "headers_secret", "timeout_s")


def _server(project: Project, server_id: int) -> McpServer:
    server = McpServer.objects.select_related("project", "headers_secret").filter(project=project, pk=server_id).first()
    if server is None:
        raise Http404("MCP server not found.")
    return server


def _list_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "project": project,
        "tab": "project-mcp",
        "servers": McpServer.objects.filter(project=project).select_related("headers_secret").order_by("name"),
        "secrets": project_secrets(project=project),
        "values": {"timeout_s": 30},
        "errors": {},
        **extra,
    }
    return page(request, "agents/settings_mcp.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_mcp(request: HttpRequest, project_slug: str) -> HttpResponse:
    """The project's MCP servers; POST adds one (URL through the egress guard)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _list_page(request, project)
    values = {key: request.POST.get(key, "") for key in FIELDS}
    try:
        server = svc.mcp_server_create(project=project, actor=request.user, data=values)
    except svc.McpServerError as exc:
        return _list_page(request, project, status=400, values=values, errors={exc.field or "form": exc.message})
    messages.success(request, f"MCP server {server.name} added. List its tools to check the connection.")
    return redirect("project-mcp", project_slug=project.slug)


@login_required
@require_POST
def mcp_edit(request: HttpRequest, project_slug: str, server_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    server = _server(project, server_id)
    values = {key: request.POST.get(key, "") for key in FIELDS}
    try:
        svc.mcp_server_update(server=server, actor=request.user, data=values)
    except svc.McpServerError as exc:
        return _list_page(
            request,
            project,
            status=400,
            edit_id=server.pk,
            edit_values=values,
            errors={exc.field or "form": exc.message},
        )
    messages.success(request, f"MCP server {values['name']} saved.")
    return redirect("project-mcp", project_slug=project.slug)


@login_required
@require_POST
def mcp_delete(request: HttpRequest, project_slug: str, server_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    server = _server(project, server_id)
    svc.mcp_server_delete(server=server, actor=request.user)
    messages.success(request, f"MCP server {server.name} deleted.")
    return redirect("project-mcp", project_slug=project.slug)


@login_required
@require_GET
def mcp_tools(request: HttpRequest, project_slug: str, server_id: int) -> HttpResponse:
    """The server's tools, asked live (an htmx fragment)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    server = _server(project, server_id)
    try:
        tools, error = svc.mcp_server_tools(server=server), ""
    except svc.McpServerError as exc:
        tools, error = [], exc.message
    for tool in tools:
        tool["schema_text"] = json.dumps(tool["input_schema"].get("properties", {}), ensure_ascii=False)
    return render(
        request,
        "agents/partials/mcp-tools.html",
        {"project": project, "server": server, "tools": tools, "error": error},
    )


@login_required
@require_POST
def mcp_test_tool(request: HttpRequest, project_slug: str, server_id: int) -> HttpResponse:
    """Call one tool with JSON arguments and show its result or error (an htmx fragment)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    server = _server(project, server_id)
    tool = request.POST.get("tool", "")
    try:
        result = svc.mcp_server_test_tool(
            server=server, actor=request.user, tool=tool, arguments=request.POST.get("arguments", "")
        )
    except svc.McpServerError as exc:
        context = {"server": server, "tool": tool, "ok": False, "text": exc.message}
        return render(request, "agents/partials/mcp-result.html", context)
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, indent=2)
    return render(
        request, "agents/partials/mcp-result.html", {"server": server, "tool": tool, "ok": True, "text": text}
    )
