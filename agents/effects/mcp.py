"""The engine's ``McpClient``: tools of a project's MCP servers (official ``mcp`` SDK).

Servers are :class:`~agents.models.McpServer` rows (streamable HTTP). The
SDK's HTTP client is built on :class:`~agents.effects.transport.PinnedTransport`,
so the server URL — and every request of the session, redirects included —
passes the same egress guard as the ``http`` node, pinned to the checked
address. Each call opens a session, initializes it, does its work and closes
it (nothing stays open between steps).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from asgiref.sync import sync_to_async
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from agents.effects.transport import egress_allowed_hosts, pinned_client
from agents.engine.protocols import McpTool
from agents.models import McpServer
from studio.crypto import secret_reveal
from studio.lib.ssrf import EgressRefused, check_url


def server_headers(server: McpServer) -> dict[str, str]:
    """Headers from the server's secret: a JSON object of header → value, or
    ``Authorization: Bearer <value>``. Empty without a secret."""
    if server.headers_secret is None:
        return {}
    value = secret_reveal(server.headers_secret)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return {str(k): str(v) for k, v in parsed.items()}
    return {"Authorization": f"Bearer {value.strip()}"}


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _decode_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class _Connection:
    server: McpServer
    headers: dict[str, str]
    allowed_hosts: list[str]


@dataclass
class DjangoMcpClient:
    """``McpClient`` for the MCP servers of project ``project_id``.

    ``allowed_hosts`` overrides the admin-managed egress allow-list (tests).
    """

    project_id: int
    allowed_hosts: list[str] | None = None
    _tools: dict[str, list[McpTool]] = field(default_factory=dict, repr=False)

    async def list_tools(self, server: str) -> list[McpTool]:
        """Tools of server ``server`` (slug), every page. Raises ``LookupError``
        (unknown server), ``PermissionError`` (refused address),
        ``ConnectionError``/``TimeoutError``."""
        async with self._session(server) as session:
            return await self._list(server, session)

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> Any:
        """Call tool ``name`` with ``arguments``; returns the decoded JSON of
        its single text result (else the text, the structured content, or
        the content items). Raises ``LookupError`` (unknown server or tool),
        ``RuntimeError`` (the tool reported an error), ``PermissionError``,
        ``ConnectionError``/``TimeoutError``."""
        async with self._session(server) as session:
            tools = await self._list(server, session)
            if name not in {tool.name for tool in tools}:
                raise LookupError(f"MCP server {server!r} has no tool {name!r}")
            try:
                result = await session.call_tool(name, arguments)
            except McpError as exc:
                raise RuntimeError(f"MCP tool {name!r}: {exc.error.message}") from None
        texts = [item.text for item in result.content if item.type == "text"]
        if result.isError:
            raise RuntimeError("; ".join(texts) or f"MCP tool {name!r} reported an error")
        if len(texts) == 1 and len(result.content) == 1:
            return _decode_text(texts[0])
        if result.structuredContent is not None:
            return result.structuredContent
        if texts and len(texts) == len(result.content):
            return "\n".join(texts)
        return [item.model_dump(mode="json", exclude_none=True) for item in result.content]

    async def _list(self, server: str, session: ClientSession) -> list[McpTool]:
        if server not in self._tools:
            tools: list[McpTool] = []
            cursor: str | None = None
            while True:
                page = await session.list_tools(cursor)
                tools += [McpTool(name=t.name, description=t.description or "", input_schema=dict(t.inputSchema))
                          for t in page.tools]
                cursor = page.nextCursor
                if not cursor:
                    break
            self._tools[server] = tools
        return self._tools[server]

    def _connection(self, slug: str) -> _Connection:
        server = McpServer.objects.select_related("headers_secret").filter(project_id=self.project_id,
                                                                          slug=slug).first()
        if server is None:
            raise LookupError(f"MCP server {slug!r} does not exist in this project")
        allowed = self.allowed_hosts if self.allowed_hosts is not None else egress_allowed_hosts(self.project_id)
        return _Connection(server=server, headers=server_headers(server), allowed_hosts=allowed)

    @asynccontextmanager
    async def _session(self, slug: str) -> AsyncIterator[ClientSession]:
        connection = await sync_to_async(self._connection)(slug)
        server = connection.server
        # Refuse before the SDK runs (its task groups would wrap the error).
        await anyio.to_thread.run_sync(lambda: check_url(server.url, allowed_hosts=connection.allowed_hosts))
        timeout = httpx.Timeout(server.timeout_s)
        client = pinned_client(allowed_hosts=connection.allowed_hosts, timeout=timeout, headers=connection.headers)
        try:
            async with asyncio.timeout(server.timeout_s), client:
                async with streamable_http_client(server.url, http_client=client) as (read, write, _):
                    async with ClientSession(read, write,
                                             read_timeout_seconds=dt.timedelta(seconds=server.timeout_s)) as session:
                        await session.initialize()
                        yield session
        except (LookupError, RuntimeError, PermissionError, ConnectionError, TimeoutError):
            raise
        except McpError as exc:
            raise ConnectionError(f"MCP server {slug!r}: {exc.error.message}") from None
        except BaseExceptionGroup as group:
            raise self._mapped(slug, _leaf(group)) from None
        except httpx.HTTPError as exc:
            raise self._mapped(slug, exc) from None

    @staticmethod
    def _mapped(slug: str, exc: BaseException) -> BaseException:
        if isinstance(exc, EgressRefused | LookupError | RuntimeError | TimeoutError | ConnectionError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return TimeoutError(f"MCP server {slug!r} timed out")
        if isinstance(exc, McpError):
            return ConnectionError(f"MCP server {slug!r}: {exc.error.message}")
        return ConnectionError(f"MCP server {slug!r}: {type(exc).__name__}: {exc}")
