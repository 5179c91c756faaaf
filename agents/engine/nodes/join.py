"""``join``: merge branches (the one node that runs when only some of its
inputs arrive)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature

JoinMode = Literal["first", "object", "list", "concat"]


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="a"), FieldSpec(name="b")]


class JoinConfig(NodeConfig):
    """``inputs``: one port per branch (all optional at run time), in merge
    order. ``mode``: ``first`` → ``value`` = the first active input (all
    inputs share one type); ``object`` → ``merged: object`` of the active
    inputs; ``list`` → ``items: list`` of the active values; ``concat`` →
    ``text: str``, the active texts joined by ``separator``."""

    mode: JoinMode = "object"
    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    separator: str = "\n\n"


def _common_type(fields: list[FieldSpec]) -> FieldSpec | None:
    if not fields:
        return None
    first = fields[0]
    same = all((f.type, f.items, tuple(f.choices)) == (first.type, first.items, tuple(first.choices)) for f in fields)
    return first if same else None


@register
class JoinNode(NodeType):
    type = "join"
    kind = "logic"
    title = "Join"
    description = "Merge branches: the first that ran, or all that ran, in port order."
    Config = JoinConfig
    runs_on_any_input = True

    def ports(self, config: JoinConfig) -> tuple[Signature, Signature]:
        inputs = Signature([f.model_copy(update={"required": False, "default": None}) for f in config.inputs])
        common = _common_type(config.inputs)
        if config.mode == "first":
            base = common or FieldSpec(name="value", type="object")
            output = base.model_copy(update={"name": "value", "required": True, "default": None})
        elif config.mode == "object":
            output = FieldSpec(name="merged", type="object")
        elif config.mode == "list":
            items = common.type if common and common.type in ("str", "int", "float", "bool", "object") else None
            output = FieldSpec(name="items", type="list", items=items)
        else:
            output = FieldSpec(name="text")
        return inputs, Signature([output])

    def check(self, config: JoinConfig) -> list[ConfigProblem]:
        problems = []
        if len(config.inputs) < 2:
            problems.append(ConfigProblem("a join needs at least two inputs"))
        if config.mode == "first" and _common_type(config.inputs) is None:
            problems.append(ConfigProblem("mode 'first' needs all inputs to have the same type"))
        if config.mode == "concat" and any(f.type not in ("str", "enum") for f in config.inputs):
            problems.append(ConfigProblem("mode 'concat' needs text (str) inputs"))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: JoinConfig = ctx.config
        active = [(f.name, inputs[f.name]) for f in config.inputs if inputs.get(f.name) is not None]
        if config.mode == "first":
            if not active:
                raise NodeError("no branch produced a value", code="no_input")
            return ctx.result({"value": active[0][1]}, chosen=active[0][0])
        if config.mode == "object":
            return ctx.result({"merged": dict(active)})
        if config.mode == "list":
            return ctx.result({"items": [value for _, value in active]})
        return ctx.result({"text": config.separator.join(str(value) for _, value in active)})
