"""``subworkflow``: run another published workflow as one step."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.engine.errors import SignatureError
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature


class SubworkflowConfig(NodeConfig):
    """``workflow``: the slug of a workflow of the same project; ``inputs``
    and ``outputs``: the signature this node expects of it (the runtime
    compares it with the workflow's published version when it validates).
    The child run's tokens and cost count towards this run's budget."""

    workflow: str = ""
    inputs: list[FieldSpec] = Field(default_factory=list)
    outputs: list[FieldSpec] = Field(default_factory=list)


@register
class SubworkflowNode(NodeType):
    type = "subworkflow"
    kind = "logic"
    title = "Sub-workflow"
    description = "Run another workflow as one step."
    Config = SubworkflowConfig
    container = True

    def ports(self, config: SubworkflowConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature(config.outputs)

    def check(self, config: SubworkflowConfig) -> list[ConfigProblem]:
        problems = [] if config.workflow.strip() else [ConfigProblem("choose a workflow")]
        if not config.outputs:
            problems.append(ConfigProblem("declare the workflow's outputs you use"))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: SubworkflowConfig = ctx.config
        runner = ctx.runtime.subworkflows
        if runner is None:
            raise NodeError("sub-workflows are not available in this runtime", code="not_configured")
        try:
            result = await runner.run(config.workflow, inputs, node_id=ctx.node_id, iteration=ctx.iteration)
        except LookupError as exc:
            raise NodeError(f"workflow {config.workflow!r} not found: {exc}", code="workflow_not_found") from None
        ctx.add_usage(result.input_tokens, result.output_tokens, None if result.cost_unknown else result.cost_usd)
        if result.cost_unknown and result.cost_usd:
            ctx.add_usage(0, 0, result.cost_usd)
        if result.status == "waiting":
            return NodeOutput({}, status="waiting", meta={"workflow": config.workflow})
        if result.status != "succeeded":
            raise NodeError(
                f"workflow {config.workflow!r} {result.status}: {result.error}",
                code=result.error_code or "subworkflow_failed",
            )
        outputs = Signature(config.outputs)
        try:
            values = outputs.validate({k: v for k, v in result.outputs.items() if k in outputs})
        except SignatureError as exc:
            raise NodeError(f"workflow {config.workflow!r} outputs do not fit: {exc}", code="invalid_output") from None
        return ctx.result(values, workflow=config.workflow)
