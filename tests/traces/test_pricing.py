"""Pricing: the endpoint's own prices first, LiteLLM's map second, else unknown (never 0)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from traces.models import ModelEndpoint
from traces.pricing import price_call


def endpoint(model: str = "openai/some-model", **prices: str | None) -> ModelEndpoint:
    return ModelEndpoint(model=model, **{k: (Decimal(v) if v is not None else None) for k, v in prices.items()})


def test_endpoint_prices_are_usd_per_million_tokens():
    priced = endpoint(input_price_per_mtok="0.15", output_price_per_mtok="0.60")

    assert price_call(priced, 1000, 500, 0) == (Decimal("0.00045"), "endpoint")


def test_cached_input_tokens_use_the_cached_price():
    priced = endpoint(input_price_per_mtok="0.15", output_price_per_mtok="0.60", cached_input_price_per_mtok="0.075")

    # 600 uncached * 0.15e-6 + 400 cached * 0.075e-6 + 500 * 0.60e-6
    assert price_call(priced, 1000, 500, 400) == (Decimal("0.00042"), "endpoint")


def test_cached_tokens_without_a_cached_price_cost_the_input_price():
    priced = endpoint(input_price_per_mtok="0.15", output_price_per_mtok="0.60")

    assert price_call(priced, 1000, 500, 400) == (Decimal("0.00045"), "endpoint")


def test_an_explicit_zero_price_is_a_known_zero_cost():
    free = endpoint(model="openai/smollm2", input_price_per_mtok="0", output_price_per_mtok="0")

    cost, source = price_call(free, 1234, 56, 0)

    assert cost == Decimal("0") and source == "endpoint"


def test_litellm_price_map_is_the_fallback():
    # litellm's bundled map: gpt-4o-mini at $0.15 / $0.60 per 1M tokens.
    cost, source = price_call(endpoint(model="openai/gpt-4o-mini"), 1000, 500, 0)

    assert (cost, source) == (Decimal("0.00045"), "litellm")


def test_endpoint_prices_win_over_the_litellm_map():
    cost, source = price_call(
        endpoint(model="openai/gpt-4o-mini", input_price_per_mtok="1", output_price_per_mtok="2"), 1000, 500, 0
    )

    assert (cost, source) == (Decimal("0.002"), "endpoint")


@pytest.mark.parametrize(
    "prices",
    [{}, {"input_price_per_mtok": "0.1"}, {"output_price_per_mtok": "0.1"}],
    ids=["no price", "input only", "output only"],
)
def test_an_unknown_model_without_full_endpoint_prices_costs_unknown(prices):
    assert price_call(endpoint(model="openai/smollm2", **prices), 1000, 500, 0) == (None, "unknown")


def test_small_costs_are_rounded_to_eight_decimal_places():
    priced = endpoint(input_price_per_mtok="0.15", output_price_per_mtok="0.60")

    assert price_call(priced, 1, 0, 0) == (Decimal("0.00000015"), "endpoint")
    assert price_call(priced, 0, 0, 0) == (Decimal("0"), "endpoint")


def test_negative_token_counts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        price_call(endpoint(input_price_per_mtok="1", output_price_per_mtok="1"), -1, 0, 0)
