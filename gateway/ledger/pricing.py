"""Cost of one request in USD, in exact decimal arithmetic: providers.yaml, else litellm's map."""

from __future__ import annotations

from decimal import Decimal

from gateway.config.runtime import Deployment
from gateway.core.usage import Usage
from gateway.ledger import cost_map
from gateway.ledger.cost_map import Prices

MILLION = Decimal(1_000_000)


def prices_for(dep: Deployment) -> Prices | None:
    """providers.yaml's price if it has one, else litellm's cost map; None: unpriced.

    A pool's tokens cost its amortised GPU-hour (GPU $/h over the declared goodput), whether
    reserved or elastic; a reserved pool that declares no goodput is priced at 0 per token
    (its effective $/Mtok, GPU cost / tokens served, is in /admin/providers).
    """
    if dep.pool is not None:
        per_mtok = Decimal(str(dep.pool.amortised_per_mtok or 0.0))
        return Prices(per_mtok, per_mtok)
    if dep.input_per_mtok is not None and dep.output_per_mtok is not None:
        cached = dep.cached_input_per_mtok
        return Prices(
            Decimal(str(dep.input_per_mtok)),
            Decimal(str(dep.output_per_mtok)),
            cached=None if cached is None else Decimal(str(cached)),
        )
    return cost_map.lookup(
        dep.upstream_model,
        f"{dep.provider}/{dep.upstream_model}",
        dep.model,
        f"{dep.provider}/{dep.model}",
    )


def cost_usd(dep: Deployment, usage: Usage) -> Decimal | None:
    """Prompt, cached prompt, completion and reasoning tokens at their own prices; None if unpriced.

    Reasoning tokens are part of completion_tokens in OpenAI's usage: without a reasoning price
    they are priced as output.
    """
    prices = prices_for(dep)
    return None if prices is None else priced(prices, usage)


def priced(prices: Prices, usage: Usage) -> Decimal:
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
    price_cached = prices.input if prices.cached is None else prices.cached
    price_reasoning = prices.output if prices.reasoning is None else prices.reasoning
    total = (
        (usage.prompt_tokens - cached) * prices.input
        + cached * price_cached
        + (usage.completion_tokens - reasoning) * prices.output
        + reasoning * price_reasoning
    )
    return total / MILLION
