"""Reading a LiteLLM chat response (or stream) into what the gateway prices and records.

Duck-typed over LiteLLM's ``ModelResponse``/stream chunk objects, so this
module does not import litellm (only :mod:`traces.gateway` does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from traces.errors import GatewayError
from traces.tokens import TokenUsage

# (model, messages, answer text) -> estimated (input, output) tokens
TokenEstimator = Callable[[str, list[dict[str, Any]], str], tuple[int, int]]


class ToolCall(NamedTuple):
    """A tool call the model asked for: ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Answer:
    """What came back from the model, before pricing and recording. Tokens are counts."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    provider_total_tokens: int | None = None
    finish_reason: str = ""
    usage_estimated: bool = False
    notes: list[str] = field(default_factory=list)

    def usage(self) -> TokenUsage:
        """The answer's tokens as disjoint parts. ``input_tokens`` here is OpenAI's ``prompt_tokens``
        (cache reads and writes included) and ``output_tokens`` its ``completion_tokens`` (reasoning
        included); see :meth:`traces.tokens.TokenUsage.from_totals`."""
        return TokenUsage.from_totals(
            prompt_tokens=self.input_tokens,
            completion_tokens=self.output_tokens,
            cache_read_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            provider_total_tokens=self.provider_total_tokens,
            estimated=self.usage_estimated,
        )


def delta_text(chunk: Any) -> str:
    """The text delta of a stream chunk ("" for role-only, tool-call or usage chunks)."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    return content if isinstance(content, str) else ""


def provider_reported_usage(stream: Any) -> bool:
    """Did any raw chunk of a finished LiteLLM stream carry usage?

    LiteLLM strips usage from the chunks it yields and, when the provider
    sent none, fills it in with ``token_counter``; only its raw chunk list
    (``CustomStreamWrapper.chunks``, litellm 1.106.2) tells the two apart.
    """
    raw = getattr(stream, "chunks", None)
    if raw is None:  # LiteLLM changed its internals: we cannot tell, so do not claim an estimate
        return True
    return any(getattr(chunk, "usage", None) is not None for chunk in raw)


def answer_from_response(response: Any, request: dict[str, Any], estimate: TokenEstimator) -> Answer:
    """An :class:`Answer` from a chat completion response (first choice).

    When the response has no usage, tokens are estimated with ``estimate``
    and ``usage_estimated`` is set. Raises :class:`GatewayError`
    (``empty_response``, transient) when there is no choice at all.
    """
    if response is None or not getattr(response, "choices", None):
        raise GatewayError("The model returned no choices.", transient=True, code="empty_response")
    choice = response.choices[0]
    message = choice.message
    tool_calls, notes = _tool_calls(getattr(message, "tool_calls", None))
    answer = Answer(
        text=message.content or "", tool_calls=tool_calls, finish_reason=choice.finish_reason or "", notes=notes
    )
    usage = getattr(response, "usage", None)
    answer.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    answer.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    read_usage_details(answer, usage)
    if usage is None or (answer.input_tokens == 0 and answer.output_tokens == 0):
        answer.input_tokens, answer.output_tokens = estimate(request["model"], request["messages"], answer.text)
        answer.usage_estimated = True
        answer.notes.append("usage estimated with litellm.token_counter (provider reported none)")
    return answer


def read_usage_details(answer: Answer, usage: Any) -> None:
    """Fill the answer's cache read/write, reasoning and provider total from a usage object.

    Cache reads: ``prompt_tokens_details.cached_tokens`` (OpenAI) or
    ``cache_read_input_tokens`` (Anthropic via LiteLLM); cache writes:
    ``cache_creation_input_tokens`` or ``prompt_tokens_details.cache_creation_tokens``;
    reasoning: ``completion_tokens_details.reasoning_tokens``; total: ``total_tokens``.
    Missing values are 0 (the total None).
    """
    if usage is None:
        return
    details = getattr(usage, "prompt_tokens_details", None)
    cached = _int_or_none(getattr(details, "cached_tokens", None)) if details is not None else None
    if cached is None:
        cached = _int_or_none(getattr(usage, "cache_read_input_tokens", None))
    write = _int_or_none(getattr(usage, "cache_creation_input_tokens", None))
    if write is None and details is not None:
        write = _int_or_none(getattr(details, "cache_creation_tokens", None))
    completion_details = getattr(usage, "completion_tokens_details", None)
    reasoning = _int_or_none(getattr(completion_details, "reasoning_tokens", None)) if completion_details else None
    answer.cached_tokens = cached or 0
    answer.cache_write_tokens = write or 0
    answer.reasoning_tokens = reasoning or 0
    answer.provider_total_tokens = _int_or_none(getattr(usage, "total_tokens", None))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _tool_calls(raw: Any) -> tuple[list[ToolCall], list[str]]:
    calls: list[ToolCall] = []
    notes: list[str] = []
    for item in raw or []:
        function = item.function
        try:
            arguments = json.loads(function.arguments or "{}")
        except json.JSONDecodeError as exc:
            arguments = {}
            notes.append(f"tool call {item.id} ({function.name}): arguments are not valid JSON ({exc.msg})")
        if not isinstance(arguments, dict):
            arguments = {"value": arguments}
        calls.append(ToolCall(id=item.id or "", name=function.name or "", arguments=arguments))
    return calls, notes
