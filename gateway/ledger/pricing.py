"""Cost of one request in USD, in exact decimal arithmetic. Pure."""

from __future__ import annotations

from decimal import Decimal

from gateway.config.runtime import Deployment
from gateway.upstream.base import Usage

MILLION = Decimal(1_000_000)


def cost_usd(dep: Deployment, usage: Usage) -> Decimal | None:
    """Prompt, cached prompt and completion tokens at their own prices; None if unpriced.

    Reasoning tokens are part of completion_tokens in OpenAI's usage and priced with them.
    """
    if dep.input_per_mtok is None or dep.output_per_mtok is None:
        return None
    price_in = Decimal(str(dep.input_per_mtok))
    price_out = Decimal(str(dep.output_per_mtok))
    price_cached = (
        Decimal(str(dep.cached_input_per_mtok))
        if dep.cached_input_per_mtok is not None
        else price_in
    )
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    total = fresh * price_in + cached * price_cached + usage.completion_tokens * price_out
    return total / MILLION
