"""``approval``: a human approves, edits or rejects; the run waits meanwhile."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.engine.errors import SignatureError
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import check_template, render_or_fail
from agents.engine.signature import FieldSpec, Signature

_RESERVED = ("rejected", "comment")


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="text", description="What to review")]


class ApprovalConfig(NodeConfig):
    """``inputs``: what the reviewer sees (and may edit); ``instructions``: a
    Jinja2 template over them, shown to the reviewer. On approval the
    (possibly edited) inputs leave through the ports of the same names and
    ``comment``; on rejection only ``rejected`` (the comment) and
    ``comment`` are emitted, so the approved path is skipped."""

    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    instructions: str = ""


@register
class ApprovalNode(NodeType):
    type = "approval"
    kind = "human"
    title = "Approval"
    description = "Wait for a person to approve, edit or reject before going on."
    Config = ApprovalConfig

    def ports(self, config: ApprovalConfig) -> tuple[Signature, Signature]:
        outputs = [
            *config.inputs,
            FieldSpec(name="rejected", description="The reviewer's comment, when rejected"),
            FieldSpec(name="comment", description="The reviewer's comment"),
        ]
        return Signature(config.inputs), Signature(outputs)

    def check(self, config: ApprovalConfig) -> list[ConfigProblem]:
        problems = [
            ConfigProblem(f"an input may not be called {f.name!r}") for f in config.inputs if f.name in _RESERVED
        ]
        if not problems:
            problems += check_template("instructions", config.instructions, Signature(config.inputs))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: ApprovalConfig = ctx.config
        gate = ctx.runtime.approvals
        if gate is None:
            raise NodeError("approvals are not available in this runtime", code="not_configured")
        decision = await gate.get_decision(ctx.node_id, ctx.iteration)
        if decision is None:
            instructions = render_or_fail("instructions", config.instructions, inputs)
            return NodeOutput({}, status="waiting", meta={"instructions": instructions})
        meta = {"approved": decision.approved, "decided_by": decision.decided_by}
        if not decision.approved:
            comment = decision.comment or "Rejected."
            return ctx.result({"rejected": comment, "comment": comment}, **meta)
        data = dict(inputs)
        if decision.data:
            try:
                data = Signature(config.inputs).validate({**inputs, **decision.data})
            except SignatureError as exc:
                raise NodeError(f"the edited data is invalid: {exc}", code="invalid_decision") from None
            meta["edited"] = True
        return ctx.result({**data, "comment": decision.comment}, **meta)
