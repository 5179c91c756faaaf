"""What an LLM call cost, in USD.

Sources, in order:

1. ``endpoint`` — the model endpoint's own prices, USD per 1,000,000 tokens,
   set by the admin. Used when both the input and the output price are set
   (0 is a price: the local model costs exactly $0).
2. ``litellm`` — LiteLLM's bundled ``model_cost`` map (USD per token), read
   offline (``LITELLM_LOCAL_MODEL_COST_MAP=True``) through
   :func:`traces.gateway.litellm_token_prices`, looked up by the endpoint's
   model string and by that string without its ``provider/`` prefix.
3. ``unknown`` — neither knows the model: the cost is ``None``, never 0.

Formula (both sources), over the disjoint parts of
:class:`traces.tokens.TokenUsage` — each token is priced exactly once::

    cost = input_tokens        * input_price          # fresh prompt tokens
         + cache_read_tokens   * cache_read_price     # input_price when none
         + cache_write_tokens  * cache_write_price    # input_price when none
         + output_tokens       * output_price
         + reasoning_tokens    * output_price         # reasoning is billed as output

with prices per token (an endpoint's per-1M price divided by 1,000,000).
Example: 1000 input + 500 output tokens at $0.15/$0.60 per 1M =
1000 * 0.15e-6 + 500 * 0.60e-6 = $0.00045.

Costs are ``Decimal`` rounded half-up to 8 decimal places (``Span.cost_usd``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from traces.models import ModelEndpoint
from traces.tokens import TokenUsage

PriceSource = Literal["endpoint", "litellm", "unknown"]
PER_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.00000001")


class TokenPrices(NamedTuple):
    """USD per token of each disjoint part of a call's usage."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


def price_usage(endpoint: ModelEndpoint, usage: TokenUsage) -> tuple[Decimal | None, PriceSource]:
    """Cost in USD of a call's disjoint ``usage`` and where its price came from.

    Returns ``(cost, source)`` with source ``"endpoint"``, ``"litellm"`` or
    ``"unknown"`` (then cost is ``None``). The first call that reaches the
    LiteLLM map imports litellm (seconds).
    """
    if endpoint.has_price:
        return _cost(_endpoint_per_token_prices(endpoint), usage), "endpoint"
    if not endpoint.use_litellm_prices:
        return None, "unknown"
    from traces.gateway import litellm_token_prices  # litellm is imported only by the gateway

    prices = litellm_token_prices(endpoint.model)
    if prices is not None:
        return _cost(prices, usage), "litellm"
    return None, "unknown"


def price_call(
    endpoint: ModelEndpoint, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> tuple[Decimal | None, PriceSource]:
    """Cost in USD of one call from OpenAI-style totals (see :func:`price_usage`).

    ``input_tokens`` is the prompt total including ``cached_tokens`` (the part
    served from the provider's prompt cache), as OpenAI's ``prompt_tokens``.
    Raises ``ValueError`` for negative token counts.
    """
    usage = TokenUsage.from_totals(
        prompt_tokens=input_tokens, completion_tokens=output_tokens, cache_read_tokens=cached_tokens
    )
    return price_usage(endpoint, usage)


def _endpoint_per_token_prices(endpoint: ModelEndpoint) -> TokenPrices:
    assert endpoint.input_price_per_mtok is not None and endpoint.output_price_per_mtok is not None
    input_price = Decimal(str(endpoint.input_price_per_mtok)) / PER_MILLION
    output_price = Decimal(str(endpoint.output_price_per_mtok)) / PER_MILLION
    cached, write = endpoint.cached_input_price_per_mtok, endpoint.cache_write_price_per_mtok
    cached_price = Decimal(str(cached)) / PER_MILLION if cached is not None else input_price
    write_price = Decimal(str(write)) / PER_MILLION if write is not None else input_price
    return TokenPrices(input_price, output_price, cached_price, write_price)


def _cost(prices: TokenPrices, usage: TokenUsage) -> Decimal:
    cost = (
        usage.input_tokens * prices.input
        + usage.cache_read_tokens * prices.cache_read
        + usage.cache_write_tokens * prices.cache_write
        + (usage.output_tokens + usage.reasoning_tokens) * prices.output
    )
    cost = cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return cost if cost else Decimal("0")  # 0, not Decimal("0E-8"), for a free call
