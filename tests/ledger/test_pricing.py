from __future__ import annotations

from decimal import Decimal

from gateway.config.runtime import Deployment
from gateway.core.usage import Usage
from gateway.ledger.pricing import cost_usd
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
