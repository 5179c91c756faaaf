"""``loop``: run a body again and again, at most ``max_iterations`` times,
until an exit condition holds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.engine.errors import GraphValidationError, TemplateError
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.body import Body, body_ports, body_problems, run_body
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature, is_compatible
from agents.engine.templating import evaluate, expression_problems

#: Hard cap on ``max_iterations``.
MAX_ITERATIONS = 100


class LoopConfig(NodeConfig):
    """``inputs``: the loop's input ports, the state of round 1. ``body``
    runs once per round on the state; its outputs are merged into the state
    (so a body output named like a body input feeds the next round).
    ``until``: a Jinja2 expression over the state plus ``iteration`` (1, 2,
    ...), checked after each round; true ends the loop. ``max_iterations``
    is required. ``on_max``: ``finish`` with the last round's outputs, or
    ``fail`` when the condition never held. Outputs: the body's outputs of
    the last round plus ``iterations: int``."""

    inputs: list[FieldSpec] = Field(default_factory=list)
    body: Body | None = None
    max_iterations: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    until: str = ""
    on_max: Literal["finish", "fail"] = "finish"


def _body_signatures(config: LoopConfig) -> tuple[Signature, Signature] | None:
    if config.body is None:
        return None
    try:
        return body_ports(config.body)
    except GraphValidationError:
        return None


@register
class LoopNode(NodeType):
    type = "loop"
    kind = "logic"
    title = "Loop"
    description = "Repeat a node or a sub-graph until a condition holds (bounded)."
    Config = LoopConfig
    container = True

    def ports(self, config: LoopConfig) -> tuple[Signature, Signature]:
        body = _body_signatures(config)
        outputs = [f for f in body[1].fields if f.name != "iterations"] if body else []
        outputs.append(FieldSpec(name="iterations", type="int", description="Rounds run"))
        return Signature(config.inputs), Signature(outputs)

    def check(self, config: LoopConfig) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if config.max_iterations is None:
            problems.append(ConfigProblem("max_iterations is required (1 to 100)"))
        problems += body_problems(config.body)
        body = _body_signatures(config)
        if body is None:
            return problems
        body_in, body_out = body
        state = Signature(config.inputs)
        if "iterations" in body_out:
            problems.append(ConfigProblem("the body may not have an output called 'iterations'"))
        for spec in body_in.fields:
            if spec.name == "iteration" and spec.type in ("int", "float"):
                continue  # the round number, given by the loop
            source = state.get(spec.name) or body_out.get(spec.name)
            if source is None:
                problems.append(ConfigProblem(f"body input {spec.name!r} is neither a loop input nor a body output"))
            elif spec.required and spec.name not in state:
                problems.append(
                    ConfigProblem(f"body input {spec.name!r} is required, so it must be a loop input for round 1")
                )
            elif not is_compatible(source, spec):
                problems.append(
                    ConfigProblem(
                        f"body input {spec.name!r} expects {spec.type_label()} but gets {source.type_label()}"
                    )
                )
        for spec in body_out.fields:
            carried = state.get(spec.name)
            if carried is not None and not is_compatible(spec, carried):
                problems.append(
                    ConfigProblem(
                        f"body output {spec.name!r} gives {spec.type_label()} but the loop input "
                        f"expects {carried.type_label()}"
                    )
                )
        if config.until:
            allowed = {*state.names(), *body_out.names(), "iteration"}
            problems += [
                ConfigProblem(f"until: {p}", code="invalid_expression")
                for p in expression_problems(config.until, allowed)
            ]
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: LoopConfig = ctx.config
        assert config.body is not None and config.max_iterations is not None  # checked
        body_in, _ = body_ports(config.body)
        state = dict(inputs)
        outputs: dict[str, Any] = {}
        exited = False
        iteration = 0
        for iteration in range(1, config.max_iterations + 1):
            round_inputs = {name: state[name] for name in body_in.names() if name in state}
            if "iteration" in body_in:
                round_inputs["iteration"] = iteration
            outputs = await run_body(ctx, config.body, str(iteration), round_inputs)
            state.update(outputs)
            if config.until:
                try:
                    exited = bool(evaluate(config.until, {**state, "iteration": iteration}))
                except TemplateError as exc:
                    raise NodeError(f"until: {exc}", code="expression_error") from None
                if exited:
                    break
        if config.until and not exited and config.on_max == "fail":
            raise NodeError(
                f"the exit condition did not hold within {config.max_iterations} iterations",
                code="max_iterations",
            )
        return ctx.result({**outputs, "iterations": iteration}, exited=exited)
