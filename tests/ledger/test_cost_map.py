"""Deployments without a price in providers.yaml are priced from litellm's bundled cost map."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gateway.core.usage import Usage
from gateway.ledger.pricing import cost_usd
from tests.ledger.test_pricing import dep


def test_litellm_price_when_providers_yaml_has_none() -> None:
    gpt = replace(dep(None, None), upstream_model="gpt-4o-mini")
    usage = Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400)
    # 600 x 0.15 + 400 x 0.075 (cached) + 500 x 0.60, per million
    assert cost_usd(gpt, usage) == Decimal("0.00042")


def test_yaml_price_wins_and_reasoning_is_output_without_its_own_price() -> None:
    usage = Usage(prompt_tokens=0, completion_tokens=100, reasoning_tokens=60)
    assert cost_usd(dep(1.0, 2.0), usage) == Decimal("0.0002")
