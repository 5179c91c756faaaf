"""Token usage as disjoint parts, and the OpenTelemetry-compatible ids of traces and spans.

Providers report overlapping counts: OpenAI's ``prompt_tokens`` includes
the cached prompt tokens, LiteLLM's Anthropic ``prompt_tokens`` includes
both cache reads and cache writes (litellm 1.106.2,
``AnthropicConfig.calculate_usage``), ``completion_tokens`` includes the
reasoning tokens. Summing ``prompt_tokens + cached_tokens`` — or pricing
cached tokens at the input price *and* at the cached price — counts them
twice. :class:`TokenUsage` keeps five parts that never overlap, plus the
provider's own total to compare with; every price applies to exactly one
part (:func:`traces.pricing.price_usage`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one call in disjoint parts (counts).

    ``input_tokens``: fresh prompt tokens (neither read from nor written to
    the provider's prompt cache). ``cache_read_tokens``: prompt tokens served
    from the cache. ``cache_write_tokens``: prompt tokens written to the cache
    (Anthropic's cache creation). ``output_tokens``: visible output tokens,
    reasoning excluded. ``reasoning_tokens``: hidden reasoning output.
    ``provider_total_tokens``: the total as the provider reported it (None
    when it reported none). ``estimated``: counted locally with LiteLLM's
    ``token_counter`` because the provider reported nothing.
    """

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    provider_total_tokens: int | None = None
    estimated: bool = False

    def __post_init__(self) -> None:
        parts = (
            self.input_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
        )
        if min(parts) < 0 or (self.provider_total_tokens is not None and self.provider_total_tokens < 0):
            raise ValueError("Token counts cannot be negative.")

    @classmethod
    def from_totals(
        cls,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        provider_total_tokens: int | None = None,
        estimated: bool = False,
    ) -> TokenUsage:
        """Split OpenAI-style totals into disjoint parts.

        ``prompt_tokens`` includes cache reads and writes, ``completion_tokens``
        includes reasoning (OpenAI; LiteLLM's normalised usage). Parts larger
        than their total are clamped to it (a provider's inconsistent report
        never makes a negative fresh count). Raises ``ValueError`` for
        negative counts.
        """
        if min(prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens) < 0:
            raise ValueError("Token counts cannot be negative.")
        read = min(cache_read_tokens, prompt_tokens)
        write = min(cache_write_tokens, prompt_tokens - read)
        reasoning = min(reasoning_tokens, completion_tokens)
        return cls(
            input_tokens=prompt_tokens - read - write,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=completion_tokens - reasoning,
            reasoning_tokens=reasoning,
            provider_total_tokens=provider_total_tokens,
            estimated=estimated,
        )

    @property
    def prompt_tokens(self) -> int:
        """All prompt tokens: fresh + cache read + cache write (OpenAI's ``prompt_tokens``)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def completion_tokens(self) -> int:
        """All output tokens: visible + reasoning (OpenAI's ``completion_tokens``)."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        """The sum of the five parts (each token counted once)."""
        return self.prompt_tokens + self.completion_tokens


def new_trace_id() -> str:
    """A random OpenTelemetry trace id: 32 lowercase hex digits (16 bytes), never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def new_span_id() -> str:
    """A random OpenTelemetry span id: 16 lowercase hex digits (8 bytes), never all zero."""
    while True:
        value = secrets.token_hex(8)
        if value.strip("0"):
            return value


def derived_span_id(kind: str, pk: int) -> str:
    """The span id of a span derived from a row (``"run"``/``"step"`` and its pk): stable, 16 hex digits.

    Run and step spans are not stored (see README "Observability"); their
    ids are a hash of the row, so a model call recorded during the run can
    name its step span as parent and the tree rebuilds the same every time.
    """
    digest = hashlib.blake2b(f"studio:{kind}:{pk}".encode(), digest_size=8).hexdigest()
    return digest if digest.strip("0") else "0000000000000001"
