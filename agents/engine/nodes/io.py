"""``input`` and ``output``: where a run's inputs enter and its outputs leave."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.engine.nodes.base import NodeConfig, NodeContext, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature


class FieldsConfig(NodeConfig):
    """``fields``: the run's input (or output) signature."""

    fields: list[FieldSpec] = Field(default_factory=list)


@register
class InputNode(NodeType):
    """Its ``fields`` are output ports carrying the run's inputs."""

    type = "input"
    kind = "io"
    title = "Input"
    description = "The workflow's inputs: each field is an output port."
    Config = FieldsConfig

    def ports(self, config: FieldsConfig) -> tuple[Signature, Signature]:
        return Signature(), Signature(config.fields)

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        # The executor passes the (validated) run inputs as this step's inputs.
        config: FieldsConfig = ctx.config
        return ctx.result({f.name: inputs[f.name] for f in config.fields if f.name in inputs})


@register
class OutputNode(NodeType):
    """Its ``fields`` are input ports; what reaches them is the run's outputs."""

    type = "output"
    kind = "io"
    title = "Output"
    description = "The workflow's outputs: each field is an input port."
    Config = FieldsConfig
    checks_outputs = False

    def ports(self, config: FieldsConfig) -> tuple[Signature, Signature]:
        return Signature(config.fields), Signature()

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        # Stored as the step's outputs so the run's outputs can be read back.
        return ctx.result(dict(inputs))
