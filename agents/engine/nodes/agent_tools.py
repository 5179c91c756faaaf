"""Tools an ``agent`` may call in its bounded tool loop: http requests, other
agents (inline) and MCP tools."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.engine.nodes.base import ConfigProblem, NodeContext, NodeError
from agents.engine.nodes.structured import format_value
from agents.engine.nodes.tool import call_mcp_tool
from agents.engine.protocols import ToolCall
from agents.engine.signature import FieldSpec, Signature

TOOL_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


class HttpToolRequest(BaseModel):
    """The request of an http tool (templates over the tool's parameters)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    body_type: Literal["object", "list", "str"] = "object"
    request_timeout_s: float = Field(default=30.0, gt=0, le=300)


class HttpTool(BaseModel):
    """An http request the model may make; ``parameters`` are its arguments
    and the template variables of ``request``. Runs as child step
    ``{agent}.{name}``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["http"]
    name: str = Field(pattern=TOOL_NAME)
    description: str = ""
    parameters: list[FieldSpec] = Field(default_factory=list)
    request: HttpToolRequest

    def http_config(self) -> dict[str, Any]:
        return {**self.request.model_dump(), "inputs": [p.model_dump() for p in self.parameters]}


class AgentTool(BaseModel):
    """Another agent the model may delegate to; ``agent`` is an agent config
    (its inputs are the arguments). Runs as child step ``{agent}.{name}``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["agent"]
    name: str = Field(pattern=TOOL_NAME)
    description: str = ""
    agent: dict[str, Any]


class McpToolRef(BaseModel):
    """A tool of an MCP server; its JSON Schema comes from ``list_tools``.
    Called within the agent's own step (recorded in its ``meta``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mcp"]
    server: str
    tool: str
    name: str | None = Field(default=None, pattern=TOOL_NAME)
    description: str | None = None

    @property
    def tool_name(self) -> str:
        return self.name or self.tool


ToolSpec = Annotated[HttpTool | AgentTool | McpToolRef, Field(discriminator="kind")]


def tool_name(tool: HttpTool | AgentTool | McpToolRef) -> str:
    """The function name the model sees."""
    return tool.tool_name if isinstance(tool, McpToolRef) else tool.name


def check_tools(tools: list[HttpTool | AgentTool | McpToolRef], depth: int = 0) -> list[ConfigProblem]:
    """Static problems of an agent's tools (nested agents included, 3 deep)."""
    from agents.engine.nodes.agent import AgentConfig, check_agent
    from agents.engine.nodes.http import HttpConfig, check_http

    problems: list[ConfigProblem] = []
    names = [tool_name(t) for t in tools]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(ConfigProblem(f"tool name {name!r} is used twice"))
    for tool in tools:
        where = f"tool {tool_name(tool)!r}"
        if isinstance(tool, HttpTool):
            config = HttpConfig.model_validate(tool.http_config())
            problems += [
                ConfigProblem(f"{where}: {p.message}", code=p.code)
                for p in check_http(config, [p.name for p in tool.parameters])
            ]
        elif isinstance(tool, AgentTool):
            if depth >= 2:
                problems.append(ConfigProblem(f"{where}: agents nest at most 3 deep"))
                continue
            try:
                agent = AgentConfig.model_validate(tool.agent)
            except ValueError as exc:
                problems.append(ConfigProblem(f"{where}: invalid agent config: {exc}"))
                continue
            problems += [ConfigProblem(f"{where}: {p.message}", code=p.code) for p in check_agent(agent, depth + 1)]
        elif not tool.server.strip() or not tool.tool.strip():
            problems.append(ConfigProblem(f"{where}: choose an MCP server and tool"))
    return problems


async def tool_definitions(ctx: NodeContext, tools: list[HttpTool | AgentTool | McpToolRef]) -> list[dict[str, Any]]:
    """OpenAI-style function definitions for the model (MCP schemas are
    fetched from the servers)."""
    from agents.engine.nodes.agent import AgentConfig

    definitions: list[dict[str, Any]] = []
    mcp_cache: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if isinstance(tool, HttpTool):
            parameters = Signature(tool.parameters).json_schema()
            description = tool.description
        elif isinstance(tool, AgentTool):
            parameters = Signature(AgentConfig.model_validate(tool.agent).inputs).json_schema()
            description = tool.description
        else:
            client = ctx.runtime.mcp
            if client is None:
                raise NodeError("MCP tools are not available in this runtime", code="not_configured")
            if tool.server not in mcp_cache:
                try:
                    listed = await client.list_tools(tool.server)
                except LookupError:
                    raise NodeError(f"MCP server {tool.server!r} not found", code="tool_not_found") from None
                mcp_cache[tool.server] = {t.name: t for t in listed}
            found = mcp_cache[tool.server].get(tool.tool)
            if found is None:
                raise NodeError(f"MCP server {tool.server!r} has no tool {tool.tool!r}", code="tool_not_found")
            parameters = found.input_schema or {"type": "object", "properties": {}}
            description = tool.description if tool.description is not None else found.description
        definitions.append(
            {
                "type": "function",
                "function": {"name": tool_name(tool), "description": description, "parameters": parameters},
            }
        )
    return definitions


async def call_tool(
    ctx: NodeContext, tools: dict[str, HttpTool | AgentTool | McpToolRef], call: ToolCall, key: str
) -> tuple[str, bool]:
    """Execute one tool call; returns (content for the ``tool`` message, ok).
    A failing tool is reported to the model as text (it may recover); run
    stops (budget, cancel) propagate."""
    tool = tools.get(call.name)
    if tool is None:
        return f"error: there is no tool called {call.name!r}", False
    try:
        if isinstance(tool, HttpTool):
            outputs = await ctx.run_child(tool.name, key, "http", tool.http_config(), call.arguments)
            result: Any = {"status": outputs["status"], "body": outputs["body"]}
        elif isinstance(tool, AgentTool):
            result = await ctx.run_child(tool.name, key, "agent", tool.agent, call.arguments)
        else:
            result = await call_mcp_tool(ctx, tool.server, tool.tool, call.arguments)
    except NodeError as exc:
        return f"error: {exc.message}", False
    except (ConnectionError, TimeoutError) as exc:
        return f"error: {type(exc).__name__}: {exc}", False
    return format_value(result) if not isinstance(result, dict) else json.dumps(result, default=str), True
