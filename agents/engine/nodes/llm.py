"""``llm``: one model call from a stored prompt version or inline messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import (
    Message,
    ask_structured,
    check_endpoint,
    check_template,
    is_blank_text,
    is_plain_text,
    render_or_fail,
    text_output,
)
from agents.engine.protocols import LLMRequest, PromptRef
from agents.engine.signature import FieldSpec, Signature


class PromptSource(BaseModel):
    """A stored prompt by ``slug`` and either ``label`` or pinned ``version``
    (neither: the ``production`` label)."""

    model_config = ConfigDict(extra="forbid")

    slug: str
    label: str | None = None
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_pointer(self) -> PromptSource:
        if self.label is not None and self.version is not None:
            raise ValueError("give a prompt label or a version, not both")
        return self

    def ref(self) -> PromptRef:
        """The :class:`PromptRef` for the PromptStore."""
        if self.version is not None:
            return PromptRef(slug=self.slug, version=self.version)
        return PromptRef(slug=self.slug, label=self.label or "production")


class LlmConfig(NodeConfig):
    """``endpoint``: model endpoint slug. Either ``prompt`` (a stored prompt)
    or ``messages`` (inline Jinja2 templates). ``inputs``: the template
    variables (input ports). ``outputs``: ``text: str`` for a plain
    completion; any other signature asks for structured output.
    ``params``: sampling parameters (``temperature``, ``max_tokens`` ...),
    over the prompt version's own model config."""

    endpoint: str = ""
    prompt: PromptSource | None = None
    messages: list[Message] = Field(default_factory=list)
    inputs: list[FieldSpec] = Field(default_factory=list)
    outputs: list[FieldSpec] = Field(default_factory=text_output)
    params: dict[str, Any] = Field(default_factory=dict)


@register
class LlmNode(NodeType):
    type = "llm"
    kind = "llm"
    title = "LLM"
    description = "One model call from a prompt version or inline messages."
    Config = LlmConfig

    def ports(self, config: LlmConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature(config.outputs)

    def check(self, config: LlmConfig) -> list[ConfigProblem]:
        problems = check_endpoint(config.endpoint)
        if config.prompt is None and not config.messages:
            problems.append(ConfigProblem("choose a prompt or write messages"))
        if config.prompt is not None and config.messages:
            problems.append(ConfigProblem("use either a prompt or inline messages, not both"))
        if not config.outputs:
            problems.append(ConfigProblem("declare at least one output field"))
        inputs = Signature(config.inputs)
        for index, message in enumerate(config.messages, start=1):
            problems += check_template(f"message {index}", message.content, inputs)
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: LlmConfig = ctx.config
        params = dict(config.params)
        version_id: int | None = None
        if config.prompt is not None:
            try:
                spec = await ctx.runtime.prompts.get_prompt(config.prompt.ref())
            except LookupError as exc:
                raise NodeError(f"prompt not found: {exc}", code="prompt_not_found") from None
            templates = [Message.model_validate(m) for m in spec.messages]
            params = {**spec.model_config, **params}
            version_id = spec.version_id
        else:
            templates = config.messages
        messages: list[dict[str, Any]] = [
            {"role": m.role, "content": render_or_fail(f"message {i}", m.content, inputs)}
            for i, m in enumerate(templates, start=1)
        ]
        outputs = Signature(config.outputs)
        if is_plain_text(outputs):
            return ctx.result({"text": await self._complete_text(ctx, config.endpoint, messages, params, version_id)})
        data = await ask_structured(
            ctx,
            endpoint=config.endpoint,
            messages=messages,
            signature=outputs,
            params=params,
            prompt_version_id=version_id,
        )
        return ctx.result(data)

    @staticmethod
    async def _complete_text(
        ctx: NodeContext,
        endpoint: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        version_id: int | None,
    ) -> str:
        """A plain completion. A blank answer (:func:`is_blank_text`) is a validation
        failure like a schema mismatch: asked once more with a note; both
        calls count. Raises ``NodeError(code="invalid_output")`` when the
        second answer is empty too."""
        conversation = list(messages)
        for attempt in (1, 2):
            response = await ctx.complete(
                LLMRequest(
                    endpoint=endpoint,
                    messages=conversation,
                    node_id=ctx.node_id,
                    iteration=ctx.iteration,
                    params=dict(params),
                    prompt_version_id=version_id,
                )
            )
            if not is_blank_text(response.text):
                return response.text
            if attempt == 1:
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": response.text},
                    {"role": "user", "content": "That answer was empty. Please answer now."},
                ]
        raise NodeError("the model's answer was empty after 2 attempts", code="invalid_output")
