"""``template``: a sandboxed Jinja2 transform of its inputs into text."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import check_template, render_or_fail
from agents.engine.signature import FieldSpec, Signature


class TemplateConfig(NodeConfig):
    """``template``: Jinja2 source; ``inputs``: the variables it may read
    (input ports). Output: ``text: str``."""

    template: str = ""
    inputs: list[FieldSpec] = Field(default_factory=list)


@register
class TemplateNode(NodeType):
    type = "template"
    kind = "data"
    title = "Template"
    description = "Format inputs into text with a sandboxed Jinja2 template."
    Config = TemplateConfig

    def ports(self, config: TemplateConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature([FieldSpec(name="text")])

    def check(self, config: TemplateConfig) -> list[ConfigProblem]:
        return check_template("template", config.template, Signature(config.inputs))

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: TemplateConfig = ctx.config
        return ctx.result({"text": render_or_fail("template", config.template, inputs)})
