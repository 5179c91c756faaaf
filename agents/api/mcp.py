"""REST API of a project's MCP servers: ``/api/v1/projects/<project>/mcp-servers``.

``GET …/mcp-servers`` (every member) lists them — name, slug, URL, timeout
(s) and the *name* of the secret holding their headers, never its value;
``POST`` adds one (``{"name", "url", "slug"?, "headers_secret"?: secret
name, "timeout_s"?}``; the URL goes through the egress guard; a headers
secret needs the ``use_secret`` rule); ``GET/DELETE …/mcp-servers/<id>``;
``GET …/mcp-servers/<id>/tools`` asks the server for its tools live
(``{"ok", "tools": [{"name", "description", "input_schema"}], "error"}``: an
unreachable or refused server is ``ok`` false with the reason, not an
error status). Writes and tool listing by admins and owners (like the
settings tab), through :mod:`agents.services.mcp_servers` (audited).
Errors: ``{"detail", "code", "errors"?}`` — ``invalid``, ``duplicate``,
``egress_refused`` (400), ``secret_not_allowed`` (403).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from agents.models import McpServer
from agents.services import mcp_servers as svc
from studio.api.errors import ApiError
from studio.models import Project, Secret
from studio.selectors import access_project


def _raise(exc: svc.McpServerError) -> NoReturn:
    code = 403 if exc.code == "secret_not_allowed" else 400
    errors = {exc.field: [exc.message]} if exc.field else None
    raise ApiError(exc.message, code=exc.code, status_code=code, errors=errors)


def _server(project: Project, server_id: int) -> McpServer:
    """An MCP server of the already-accessed ``project`` by id. Raises ``Http404``."""
    found = McpServer.objects.select_related("project", "headers_secret").filter(project=project, pk=server_id).first()
    if found is None:
        raise Http404("MCP server not found.")
    return found


class McpServerOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    url = serializers.CharField()
    headers_secret = serializers.CharField(allow_null=True, help_text="The name of the secret holding its headers.")
    timeout_s = serializers.FloatField(help_text="Seconds per call.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class McpServerIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=64, required=False, allow_blank=True)
    url = serializers.CharField(max_length=1000, help_text="Streamable HTTP URL, e.g. https://mcp.example.com/mcp.")
    headers_secret = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True, help_text="A secret's name; null: none."
    )
    timeout_s = serializers.FloatField(required=False, min_value=1, help_text="Seconds per call (default 30).")


class McpToolOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.JSONField()


class McpToolsOut(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    tools = McpToolOut(many=True)
    error = serializers.CharField(allow_blank=True, help_text="Why the tools could not be listed, when not ok.")


def _out(server: McpServer) -> Any:
    return McpServerOut(
        {
            "id": server.pk,
            "name": server.name,
            "slug": server.slug,
            "url": server.url,
            "headers_secret": server.headers_secret.name if server.headers_secret else None,
            "timeout_s": server.timeout_s,
            "created_at": server.created_at,
            "updated_at": server.updated_at,
        }
    ).data


@extend_schema(
    methods=["GET"], responses={200: McpServerOut(many=True)}, tags=["mcp servers"], operation_id="mcp_servers_list"
)
@extend_schema(
    methods=["POST"],
    request=McpServerIn,
    responses={201: McpServerOut},
    tags=["mcp servers"],
    operation_id="mcp_servers_create",
)
@api_view(["GET", "POST"])
def mcp_servers(request: Request, project_slug: str) -> Response:
    """List the project's MCP servers (every member), or add one (admins and owners)."""
    if request.method == "GET":
        project = access_project(user=request.user, slug=project_slug, perm="view")
        servers = McpServer.objects.filter(project=project).select_related("headers_secret").order_by("name")
        return Response([_out(server) for server in servers])
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    serializer = McpServerIn(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    secret_name = data.pop("headers_secret", None)
    if secret_name:
        secret = Secret.objects.filter(project=project, name=secret_name).first()
        if secret is None:
            _raise(svc.McpServerError(f"No secret named {secret_name!r} in this project.", field="headers_secret"))
        data["headers_secret"] = str(secret.pk)
    try:
        server = svc.mcp_server_create(project=project, actor=request.user, data=data)
    except svc.McpServerError as exc:
        _raise(exc)
    return Response(_out(server), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: McpServerOut}, tags=["mcp servers"], operation_id="mcp_servers_get")
@extend_schema(methods=["DELETE"], responses={204: None}, tags=["mcp servers"], operation_id="mcp_servers_delete")
@api_view(["GET", "DELETE"])
def mcp_server(request: Request, project_slug: str, server_id: int) -> Response:
    """One MCP server: read it (every member) or delete it (admins and owners; nodes naming it then fail validation)."""
    perm = "view" if request.method == "GET" else "manage"
    project = access_project(user=request.user, slug=project_slug, perm=perm)
    found = _server(project, server_id)
    if request.method == "GET":
        return Response(_out(found))
    svc.mcp_server_delete(server=found, actor=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(responses={200: McpToolsOut}, tags=["mcp servers"], operation_id="mcp_servers_tools")
@api_view(["GET"])
def mcp_server_tools(request: Request, project_slug: str, server_id: int) -> Response:
    """The server's tools, asked live (admins and owners); an unreachable server is ``ok`` false with the reason."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    found = _server(project, server_id)
    try:
        tools, error = svc.mcp_server_tools(server=found), ""
    except svc.McpServerError as exc:
        tools, error = [], exc.message
    return Response(McpToolsOut({"ok": not error, "tools": tools, "error": error}).data)


urlpatterns = [
    path("projects/<slug:project_slug>/mcp-servers", mcp_servers, name="api-mcp-servers"),
    path("projects/<slug:project_slug>/mcp-servers/<int:server_id>", mcp_server, name="api-mcp-server"),
    path(
        "projects/<slug:project_slug>/mcp-servers/<int:server_id>/tools", mcp_server_tools, name="api-mcp-server-tools"
    ),
]
