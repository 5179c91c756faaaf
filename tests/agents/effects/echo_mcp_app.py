"""An MCP server (the SDK's FastMCP, streamable HTTP) whose tool echoes the request's headers.

Usage: ``python echo_mcp_app.py PORT`` — serves ``http://127.0.0.1:PORT/mcp``.
The secret canary test uses it as a server that sends a secret back.
"""

from __future__ import annotations

import sys

from mcp.server.fastmcp import Context, FastMCP

server = FastMCP("studio-echo", host="127.0.0.1", port=int(sys.argv[1]), log_level="WARNING")


@server.tool()
def whoami(ctx: Context) -> dict[str, str]:  # type: ignore[type-arg]
    """The headers this request came with (an API that echoes credentials)."""
    request = ctx.request_context.request
    headers = dict(request.headers) if request is not None else {}
    return {"authorization": headers.get("authorization", ""), "x-api-key": headers.get("x-api-key", "")}


if __name__ == "__main__":
    server.run(transport="streamable-http")
