"""Cost of one request in USD, in exact decimal arithmetic: providers.yaml, else litellm's map."""

from __future__ import annotations

from decimal import Decimal
from typing import overload

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
        return Prices(
            _dec(dep.input_per_mtok),
            _dec(dep.output_per_mtok),
            cached=_dec(dep.cached_input_per_mtok),
            reasoning=_dec(dep.reasoning_per_mtok),
            cache_write=_dec(dep.cache_write_per_mtok),
        )
    return cost_map.lookup(
        dep.upstream_model,
        f"{dep.provider}/{dep.upstream_model}",
        dep.model,
        f"{dep.provider}/{dep.model}",
    )


def cost_usd(dep: Deployment, usage: Usage) -> Decimal | None:
    """Every kind of token at its own price; None if unpriced."""
    hit = _PRICES.get(id(dep))
    if hit is None or hit[0] is not dep:  # (an id can be reused once its object is gone)
        if len(_PRICES) > 10_000:  # reloads make new deployments: forget the old ones
            _PRICES.clear()
        hit = _PRICES[id(dep)] = (dep, prices_for(dep))
    prices = hit[1]
    return None if prices is None else priced(prices, usage)


# Prices per deployment object, built once: every request is priced, the config rarely changes.
_PRICES: dict[int, tuple[Deployment, Prices | None]] = {}


def priced(prices: Prices, usage: Usage) -> Decimal:
    """prompt_tokens include cache reads and writes, completion_tokens include reasoning (as
    vendors report them once mapped to Usage): each part is taken out and priced at its rate.
    Without their own price, cache reads and writes cost input and reasoning costs output."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
    total = (
        (usage.prompt_tokens - cached - written) * prices.input
        + cached * _or(prices.cached, prices.input)
        + written * _or(prices.cache_write, prices.input)
        + (usage.completion_tokens - reasoning) * prices.output
        + reasoning * _or(prices.reasoning, prices.output)
    )
    return total / MILLION


def _or(price: Decimal | None, default: Decimal) -> Decimal:
    return default if price is None else price


@overload
def _dec(value: float) -> Decimal: ...
@overload
def _dec(value: None) -> None: ...
@overload
def _dec(value: float | None) -> Decimal | None: ...
def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))  # via str: the decimal written
