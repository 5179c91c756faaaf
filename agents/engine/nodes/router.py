"""``router``: send a value down one of several branches, chosen by sandboxed
expressions or by an LLM classifier."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.engine.errors import TemplateError
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import (
    ask_structured,
    check_endpoint,
    check_template,
    format_value,
    render_or_fail,
)
from agents.engine.signature import FieldSpec, Signature
from agents.engine.templating import evaluate, expression_problems


class Route(BaseModel):
    """A branch: ``name`` is its output port; ``when`` a Jinja2 expression
    over the inputs (expression mode); ``description`` tells the classifier
    when to pick it (llm mode)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    when: str = ""
    description: str = ""


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="value")]


class RouterConfig(NodeConfig):
    """``inputs``: fields the conditions read. ``forward``: the input whose
    value leaves through the chosen route's port (default: the first).
    ``routes`` are tried in order; the first whose ``when`` is true wins,
    else ``default_route`` (``null``: fail the step). In ``llm`` mode the model
    at ``endpoint`` picks a route name (an enum in the schema) following
    ``instructions``."""

    mode: Literal["expression", "llm"] = "expression"
    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    forward: str | None = None
    routes: list[Route] = Field(default_factory=list)
    default_route: str | None = "otherwise"
    endpoint: str = ""
    instructions: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


def _route_names(config: RouterConfig) -> list[str]:
    names = [r.name for r in config.routes]
    if config.default_route and config.default_route not in names:
        names.append(config.default_route)
    return names


def _forwarded(config: RouterConfig) -> FieldSpec:
    inputs = Signature(config.inputs)
    name = config.forward or (inputs.names()[0] if len(inputs) else "")
    spec = inputs.get(name)
    return spec if spec is not None else FieldSpec(name="value", type="object")


@register
class RouterNode(NodeType):
    type = "router"
    kind = "logic"
    title = "Router"
    description = "Send the input down one branch, by condition or by an LLM classifier."
    Config = RouterConfig

    def ports(self, config: RouterConfig) -> tuple[Signature, Signature]:
        forwarded = _forwarded(config)
        outputs = [
            forwarded.model_copy(update={"name": name, "required": True, "default": None})
            for name in dict.fromkeys(_route_names(config))
        ]
        return Signature(config.inputs), Signature(outputs)

    def check(self, config: RouterConfig) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if not config.routes:
            problems.append(ConfigProblem("add at least one route"))
        names = [r.name for r in config.routes]
        for name in names:
            if not name.isidentifier():
                problems.append(ConfigProblem(f"route name {name!r} must be letters, digits and _"))
        if len(set(names)) != len(names):
            problems.append(ConfigProblem("route names must be unique"))
        if config.default_route is not None and config.default_route in names:
            problems.append(ConfigProblem(f"the default route {config.default_route!r} is also a route"))
        if not config.inputs:
            problems.append(ConfigProblem("declare at least one input"))
        elif config.forward and config.forward not in Signature(config.inputs):
            problems.append(ConfigProblem(f"forward {config.forward!r} is not an input"))
        allowed = [f.name for f in config.inputs]
        if config.mode == "expression":
            for route in config.routes:
                for problem in expression_problems(route.when, allowed):
                    problems.append(
                        ConfigProblem(f"route {route.name!r} condition: {problem}", code="invalid_expression")
                    )
        else:
            problems += check_endpoint(config.endpoint)
            problems += check_template("instructions", config.instructions, Signature(config.inputs))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: RouterConfig = ctx.config
        chosen = await (self._classify(ctx, config, inputs) if config.mode == "llm" else self._match(config, inputs))
        forward = _forwarded(config).name
        return ctx.result({chosen: inputs.get(forward)}, route=chosen)

    async def _match(self, config: RouterConfig, inputs: dict[str, Any]) -> str:
        for route in config.routes:
            try:
                if evaluate(route.when, inputs):
                    return route.name
            except TemplateError as exc:
                raise NodeError(f"route {route.name!r} condition: {exc}", code="expression_error") from None
        if config.default_route is None:
            raise NodeError("no route condition is true and there is no default route", code="no_route")
        return config.default_route

    async def _classify(self, ctx: NodeContext, config: RouterConfig, inputs: dict[str, Any]) -> str:
        names = _route_names(config)
        lines = []
        for route in config.routes:
            lines.append(f"- {route.name}: {route.description}" if route.description else f"- {route.name}")
        if config.default_route and config.default_route not in [r.name for r in config.routes]:
            lines.append(f"- {config.default_route}: none of the above")
        system = render_or_fail("instructions", config.instructions, inputs).strip()
        system += ("\n\n" if system else "") + "Pick the route that fits best:\n" + "\n".join(lines)
        system += '\nReply with a JSON object: {"route": <route name>}.'
        user = "\n".join(f"{name}: {format_value(value)}" for name, value in inputs.items())
        answer = await ask_structured(
            ctx,
            endpoint=config.endpoint,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            signature=Signature([FieldSpec(name="route", type="enum", choices=names)]),
            params=config.params,
        )
        return str(answer["route"])
