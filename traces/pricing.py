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

Formula (both sources)::

    cost = (input_tokens - cached_tokens) * input_price
         + cached_tokens * cached_input_price   # input_price when no cached price
         + output_tokens * output_price

with prices per token (an endpoint's per-1M price divided by 1,000,000).
``input_tokens`` counts cached tokens too, as OpenAI's ``prompt_tokens``
does. Example: 1000 input + 500 output tokens at $0.15/$0.60 per 1M =
1000 * 0.15e-6 + 500 * 0.60e-6 = $0.00045.

Costs are ``Decimal`` rounded half-up to 8 decimal places (``Span.cost_usd``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from traces.models import ModelEndpoint

PriceSource = Literal["endpoint", "litellm", "unknown"]
PER_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.00000001")


def price_call(
    endpoint: ModelEndpoint, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> tuple[Decimal | None, PriceSource]:
    """Cost in USD of one call and where its price came from.

    Tokens are counts; ``cached_tokens`` is the part of ``input_tokens``
    served from the provider's prompt cache. Returns ``(cost, source)``
    with source ``"endpoint"``, ``"litellm"`` or ``"unknown"`` (then cost is
    ``None``). Raises ``ValueError`` for negative token counts. The first
    call that reaches the LiteLLM map imports litellm (seconds).
    """
    if min(input_tokens, output_tokens, cached_tokens) < 0:
        raise ValueError("Token counts cannot be negative.")
    cached_tokens = min(cached_tokens, input_tokens)
    if endpoint.has_price:
        per_token = _endpoint_per_token_prices(endpoint)
        return _cost(per_token, input_tokens, output_tokens, cached_tokens), "endpoint"
    if not endpoint.use_litellm_prices:
        return None, "unknown"
    from traces.gateway import litellm_token_prices  # litellm is imported only by the gateway

    prices = litellm_token_prices(endpoint.model)
    if prices is not None:
        return _cost(prices, input_tokens, output_tokens, cached_tokens), "litellm"
    return None, "unknown"


def _endpoint_per_token_prices(endpoint: ModelEndpoint) -> tuple[Decimal, Decimal, Decimal]:
    assert endpoint.input_price_per_mtok is not None and endpoint.output_price_per_mtok is not None
    input_price = Decimal(str(endpoint.input_price_per_mtok)) / PER_MILLION
    output_price = Decimal(str(endpoint.output_price_per_mtok)) / PER_MILLION
    cached = endpoint.cached_input_price_per_mtok
    cached_price = Decimal(str(cached)) / PER_MILLION if cached is not None else input_price
    return input_price, output_price, cached_price


def _cost(
    per_token: tuple[Decimal, Decimal, Decimal], input_tokens: int, output_tokens: int, cached_tokens: int
) -> Decimal:
    input_price, output_price, cached_price = per_token
    cost = (input_tokens - cached_tokens) * input_price + cached_tokens * cached_price + output_tokens * output_price
    cost = cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return cost if cost else Decimal("0")  # 0, not Decimal("0E-8"), for a free call
