from __future__ import annotations

from decimal import Decimal

from gateway.config.runtime import Deployment
from gateway.core.usage import Usage
from gateway.ledger.pricing import cost_usd, needs_cost_map
from tests.factories import deployment


def dep(pin: float | None, pout: float | None, cached: float | None = None) -> Deployment:
    return deployment(input_per_mtok=pin, output_per_mtok=pout, cached_input_per_mtok=cached)


def test_exact_decimal_cost() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    assert cost_usd(dep(0.15, 0.60), usage) == Decimal("0.00045")


def test_cached_prompt_tokens_at_their_own_price() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=0, cached_tokens=400)
    assert cost_usd(dep(1.0, 2.0, cached=0.5), usage) == Decimal("0.0008")
    assert cost_usd(dep(1.0, 2.0), usage) == Decimal("0.001")  # no cached price: full price


def test_unpriced_deployment_has_no_cost() -> None:
    assert cost_usd(dep(None, None), Usage(prompt_tokens=5)) is None


def test_cache_reads_writes_and_reasoning_each_at_their_own_rate() -> None:
    # Anthropic-like: 1000 input tokens of which 600 read from cache and 300 written to it;
    # 500 output tokens of which 200 reasoning.
    usage = Usage(
        prompt_tokens=1000,
        completion_tokens=500,
        cached_tokens=600,
        cache_write_tokens=300,
        reasoning_tokens=200,
    )
    priced = deployment(
        input_per_mtok=3.0,
        output_per_mtok=15.0,
        cached_input_per_mtok=0.3,
        cache_write_per_mtok=3.75,
        reasoning_per_mtok=20.0,
    )
    # 100 x 3 + 600 x 0.3 + 300 x 3.75 + 300 x 15 + 200 x 20 = 10,105 per million tokens
    assert cost_usd(priced, usage) == Decimal("0.010105")
    # Without their own prices: writes at input, reasoning at output (and reads at their 0.3).
    plain = deployment(input_per_mtok=3.0, output_per_mtok=15.0, cached_input_per_mtok=0.3)
    assert cost_usd(plain, usage) == Decimal("0.00888")  # 400x3 + 600x0.3 + 500x15


def test_token_parts_never_exceed_their_whole() -> None:
    # A vendor reporting more cache tokens than prompt tokens is not billed negative input.
    usage = Usage(prompt_tokens=100, cached_tokens=80, cache_write_tokens=80)
    assert cost_usd(dep(1.0, 2.0, cached=0.5), usage) == Decimal("0.00006")  # 80x0.5 + 20x1


def test_the_cost_map_is_needed_only_for_a_deployment_priced_by_it() -> None:
    priced, half = dep(1.0, 2.0), dep(1.0, None)
    assert not needs_cost_map([priced])
    assert needs_cost_map([priced, half])  # one price missing: litellm's map is asked
    assert not needs_cost_map([])
