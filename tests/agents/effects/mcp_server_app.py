"""A small real MCP server for the tests (the SDK's FastMCP over streamable HTTP).

Usage: ``python mcp_server_app.py PORT`` — serves ``http://127.0.0.1:PORT/mcp``.
"""

from __future__ import annotations

import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("studio-test", host="127.0.0.1", port=int(sys.argv[1]), log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def describe(name: str) -> dict[str, object]:
    """Describe a thing as an object."""
    return {"name": name, "length": len(name)}


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@server.tool()
def fail(reason: str) -> str:
    """Always fails with ``reason``."""
    raise ValueError(reason)


if __name__ == "__main__":
    server.run(transport="streamable-http")
