"""``agent``: instructions + typed inputs → typed outputs, by structured output."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from agents.engine.nodes.agent_tools import ToolSpec, call_tool, check_tools, tool_definitions, tool_name
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import (
    ask_structured,
    check_answer,
    check_endpoint,
    check_template,
    describe_fields,
    format_value,
    render_or_fail,
)
from agents.engine.protocols import LLMRequest
from agents.engine.signature import FieldSpec, Signature


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="task", description="What to do")]


def _default_outputs() -> list[FieldSpec]:
    return [FieldSpec(name="result", description="The result")]


class AgentConfig(NodeConfig):
    """``endpoint``: model endpoint slug; ``instructions``: Jinja2 template
    over the inputs (the system message); ``inputs``/``outputs``: the
    signature; ``params``: sampling parameters."""

    endpoint: str = ""
    instructions: str = ""
    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    outputs: list[FieldSpec] = Field(default_factory=_default_outputs)
    params: dict[str, Any] = Field(default_factory=dict)
    tools: list[ToolSpec] = Field(default_factory=list)
    max_steps: int = Field(default=5, ge=1, le=25)


def build_messages(instructions: str, inputs: dict[str, Any], outputs: Signature) -> list[dict[str, Any]]:
    """The agent's conversation: a system message (instructions + the output
    fields to fill, see :func:`describe_fields`) and a user message listing
    the inputs, one ``name: value`` per line.

    There is deliberately no example answer: SmolLM2-135M copies any sample
    value it is shown (an example object made it answer "First sentence.
    Second sentence." in 14 of 31 template steps). The field list names each
    field, its kind of value and its description; the JSON Schema sent with
    the request holds the model to the shape."""
    system = instructions.strip()
    system += ("\n\n" if system else "") + "Reply with a JSON object with these fields:\n"
    system += describe_fields(outputs)
    user = "\n".join(f"{name}: {format_value(value)}" for name, value in inputs.items())
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def check_agent(config: AgentConfig, depth: int = 0) -> list[ConfigProblem]:
    """Static problems shared by agents and the agents inlined elsewhere
    (``depth``: how deep this agent is nested as a tool)."""
    problems = check_endpoint(config.endpoint)
    if not config.outputs:
        problems.append(ConfigProblem("declare at least one output field"))
    problems += check_template("instructions", config.instructions, Signature(config.inputs))
    problems += check_tools(config.tools, depth)
    return problems


@register
class AgentNode(NodeType):
    type = "agent"
    kind = "llm"
    title = "Agent"
    description = "Follows instructions to turn typed inputs into typed outputs."
    Config = AgentConfig

    def ports(self, config: AgentConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature(config.outputs)

    def check(self, config: AgentConfig) -> list[ConfigProblem]:
        return check_agent(config)

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: AgentConfig = ctx.config
        outputs = Signature(config.outputs)
        instructions = render_or_fail("instructions", config.instructions, inputs)
        messages = build_messages(instructions, inputs, outputs)
        if config.tools:
            return await self._run_tools(ctx, config, messages, outputs)
        data = await ask_structured(
            ctx,
            endpoint=config.endpoint,
            messages=messages,
            signature=outputs,
            params=config.params,
        )
        return ctx.result(data)

    async def _run_tools(
        self, ctx: NodeContext, config: AgentConfig, messages: list[dict[str, Any]], outputs: Signature
    ) -> NodeOutput:
        """The bounded tool loop: up to ``max_steps`` model calls offering the
        tools (no schema); tool calls run and their results go back to the
        model. An answer without tool calls that fits the output signature
        ends the loop; otherwise one final structured call (schema, no
        tools) gives the answer."""
        definitions = await tool_definitions(ctx, config.tools)
        tools = {tool_name(t): t for t in config.tools}
        conversation = list(messages)
        trace: list[dict[str, Any]] = []
        for step in range(1, config.max_steps + 1):
            response = await ctx.complete(
                LLMRequest(
                    endpoint=config.endpoint,
                    messages=list(conversation),
                    node_id=ctx.node_id,
                    iteration=ctx.iteration,
                    tools=definitions,
                    params=dict(config.params),
                )
            )
            if not response.tool_calls:
                try:
                    return ctx.result(check_answer(response.text, outputs), tool_calls=trace, steps=step)
                except ValueError:
                    conversation.append({"role": "assistant", "content": response.text})
                    break
            conversation.append(
                {
                    "role": "assistant",
                    "content": response.text or "",
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                        }
                        for call in response.tool_calls
                    ],
                }
            )
            for index, call in enumerate(response.tool_calls, start=1):
                content, ok = await call_tool(ctx, tools, call, f"{step}.{index}")
                trace.append({"step": step, "name": call.name, "arguments": call.arguments, "ok": ok})
                conversation.append({"role": "tool", "tool_call_id": call.id, "content": content})
        conversation.append({"role": "user", "content": "Give your final answer now."})
        data = await ask_structured(
            ctx, endpoint=config.endpoint, messages=conversation, signature=outputs, params=config.params
        )
        return ctx.result(data, tool_calls=trace)
