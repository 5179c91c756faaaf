"""``tool``: call one tool of an MCP server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature


class ToolConfig(NodeConfig):
    """``server``: the project's MCP server slug; ``tool``: the tool's name;
    ``inputs``: the arguments (input ports, passed as is). Output:
    ``result`` typed by ``result_type``."""

    server: str = ""
    tool: str = ""
    inputs: list[FieldSpec] = Field(default_factory=list)
    result_type: Literal["object", "list", "str"] = "object"


async def call_mcp_tool(ctx: NodeContext, server: str, tool: str, arguments: dict[str, Any]) -> Any:
    """Call an MCP tool; errors become :class:`NodeError` (``not_configured``,
    ``tool_not_found``, ``tool_error``) except transient connection errors."""
    client = ctx.runtime.mcp
    if client is None:
        raise NodeError("MCP tools are not available in this runtime", code="not_configured")
    try:
        return await client.call_tool(server, tool, arguments)
    except LookupError as exc:
        raise NodeError(f"tool {tool!r} on {server!r} not found: {exc}", code="tool_not_found") from None
    except RuntimeError as exc:
        raise NodeError(f"tool {tool!r} failed: {exc}", code="tool_error") from None


@register
class ToolNode(NodeType):
    type = "tool"
    kind = "integration"
    title = "MCP tool"
    description = "Call a tool of an MCP server."
    Config = ToolConfig

    def ports(self, config: ToolConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature([FieldSpec(name="result", type=config.result_type)])

    def check(self, config: ToolConfig) -> list[ConfigProblem]:
        problems = [] if config.server.strip() else [ConfigProblem("choose an MCP server")]
        if not config.tool.strip():
            problems.append(ConfigProblem("choose a tool"))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: ToolConfig = ctx.config
        result = await call_mcp_tool(ctx, config.server, config.tool, inputs)
        return ctx.result({"result": result}, server=config.server, tool=config.tool)
