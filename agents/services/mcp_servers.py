"""MCP servers from the app: add, edit, delete; list their tools live and test a tool call.

The caller fetched the project with ``access_project(perm="manage")``. The
URL passes the egress guard (``studio.lib.ssrf.check_url``) unless a
superuser allowed its host; a headers secret must be one the actor may use
(``studio.selectors.may_use_secret``). Atomic and audited; errors are
:class:`McpServerError` naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils.text import slugify

from agents.effects.mcp import DjangoMcpClient
from agents.effects.transport import egress_allowed_hosts
from agents.models import McpServer
from studio.lib.ssrf import EgressRefused, check_url
from studio.models import Project, Secret
from studio.selectors import may_use_secret
from studio.services import audit_record
from traces.recording import project_secret_values
from traces.redaction import Redactor

MAX_TIMEOUT_S = 600.0


class McpServerError(Exception):
    """A refused MCP server change or call: ``message`` and the ``field`` it concerns."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def _clean(project: Project, actor: Any, data: dict[str, Any], *, instance: McpServer | None) -> dict[str, Any]:
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise McpServerError("Enter a name (at most 200 characters).", field="name")
    slug = slugify(str(data.get("slug") or "") or name)[:64]
    if not slug:
        raise McpServerError("Enter a slug of letters, digits and hyphens.", field="slug")
    taken = McpServer.objects.filter(project=project, slug=slug)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise McpServerError(f"An MCP server with the slug {slug!r} already exists.", field="slug", code="duplicate")
    url = str(data.get("url") or "").strip()
    if not url or len(url) > 1000:
        raise McpServerError("Enter the server's streamable HTTP URL, e.g. https://mcp.example.com/mcp.", field="url")
    try:
        check_url(url, allowed_hosts=egress_allowed_hosts(project.pk))
    except EgressRefused as exc:
        raise McpServerError(
            f"Refused: {exc}. Ask a superuser to allow this host if it is yours.", field="url", code="egress_refused"
        ) from None
    except ConnectionError as exc:
        raise McpServerError(f"The host does not resolve ({exc}).", field="url") from None
    secret: Secret | None = None
    raw_secret = str(data.get("headers_secret") or "")
    if raw_secret:
        secret = Secret.objects.filter(project=project, pk=int(raw_secret) if raw_secret.isdigit() else -1).first()
        if secret is None:
            raise McpServerError("Choose a secret of this project.", field="headers_secret")
        current = instance.headers_secret if instance is not None else None
        if secret != current and not may_use_secret(actor, project, secret):
            raise McpServerError(
                f"You may not use the secret {secret.name}.", field="headers_secret", code="secret_not_allowed"
            )
    try:
        timeout_s = float(str(data.get("timeout_s") or "30"))
    except ValueError:
        raise McpServerError("Enter seconds, like 30.", field="timeout_s") from None
    if not 1 <= timeout_s <= MAX_TIMEOUT_S:  # also refuses nan
        raise McpServerError(f"Enter 1 to {MAX_TIMEOUT_S:.0f} seconds.", field="timeout_s")
    return {"name": name, "slug": slug, "url": url, "headers_secret": secret, "timeout_s": timeout_s}


@transaction.atomic
def mcp_server_create(*, project: Project, actor: Any, data: dict[str, Any]) -> McpServer:
    """Add an MCP server. Raises :class:`McpServerError`."""
    server = McpServer.objects.create(project=project, **_clean(project, actor, data, instance=None))
    audit_record(
        project=project,
        actor=actor,
        verb="mcp_server.create",
        obj=server,
        data={"slug": server.slug, "url": server.url},
    )
    return server


@transaction.atomic
def mcp_server_update(*, server: McpServer, actor: Any, data: dict[str, Any]) -> McpServer:
    """Change an MCP server; audited with the changed fields. Raises :class:`McpServerError`."""
    clean = _clean(server.project, actor, data, instance=server)
    locked = McpServer.objects.select_for_update().get(pk=server.pk)
    changed = [key for key, value in clean.items() if getattr(locked, key) != value]
    for key in changed:
        setattr(locked, key, clean[key])
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            project=locked.project, actor=actor, verb="mcp_server.update", obj=locked, data={"fields": changed}
        )
    return locked


@transaction.atomic
def mcp_server_delete(*, server: McpServer, actor: Any) -> None:
    """Delete an MCP server (nodes naming it then fail validation); audited."""
    audit_record(project=server.project, actor=actor, verb="mcp_server.delete", obj=server, data={"slug": server.slug})
    server.delete()


def mcp_server_tools(*, server: McpServer) -> list[dict[str, Any]]:
    """The server's tools, live: ``[{"name", "description", "input_schema"}]``.

    Raises :class:`McpServerError` (field None) with the reason when the
    server is refused, unreachable or times out.
    """
    try:
        tools = async_to_sync(DjangoMcpClient(project_id=server.project_id).list_tools)(server.slug)
    except (LookupError, PermissionError, ConnectionError, TimeoutError) as exc:
        raise McpServerError(str(exc) or type(exc).__name__, code="unreachable") from None
    return [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]


def mcp_server_test_tool(*, server: McpServer, actor: Any, tool: str, arguments: str) -> Any:
    """Call ``tool`` once with ``arguments`` (a JSON object as text); returns its decoded result. Audited.

    The result and any error are redacted of the project's secret values (a
    server that echoes its headers secret does not show it on the page).

    Raises :class:`McpServerError`: arguments not a JSON object (field
    ``arguments``), unknown tool, the tool's own error, or the server unreachable.
    """
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError as exc:
        raise McpServerError(f"Not valid JSON: {exc}.", field="arguments") from None
    if not isinstance(parsed, dict):
        raise McpServerError('Enter a JSON object, like {"text": "hi"}.', field="arguments")
    ok = False
    redactor = Redactor(project_secret_values(server.project_id))
    try:
        result = async_to_sync(DjangoMcpClient(project_id=server.project_id).call_tool)(server.slug, tool, parsed)
        ok = True
    except (LookupError, RuntimeError, PermissionError, ConnectionError, TimeoutError) as exc:
        raise McpServerError(redactor.text(str(exc)) or type(exc).__name__, code="tool_failed") from None
    finally:
        audit_record(
            project=server.project,
            actor=actor,
            verb="mcp_server.test_tool",
            obj=server,
            data={"tool": tool[:100], "ok": ok},
        )
    return redactor.value(result)
