"""Cost of one request in USD, in exact decimal arithmetic: providers.yaml, else litellm's map."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import overload

from gateway.config.runtime import Deployment
from gateway.core.usage import Usage
from gateway.ledger import cost_map
from gateway.ledger.cost_map import Prices

MILLION = Decimal(1_000_000)


# litellm's cost map names a vendor's models with these prefixes (azure/gpt-4o, ...).
MAP_PREFIX = {
    "azure": "azure",
    "gemini": "gemini",
    "bedrock": "bedrock",
    "vertex": "vertex_ai",
    "cohere": "cohere",
    "anthropic": "anthropic",
}
SOURCE_CONFIG = "providers.yaml"
SOURCE_POOL = "pool GPU-hour"


def prices_for(dep: Deployment) -> Prices | None:
    """providers.yaml's price if it has one, else litellm's cost map; None: unpriced."""
    return priced_from(dep)[0]


def priced_from(dep: Deployment) -> tuple[Prices | None, str | None]:
    """The deployment's prices and where they come from: providers.yaml, the pool's GPU-hour,
    or litellm's map under the name it was found by (None, None: unpriced).

    A pool's tokens cost its amortised GPU-hour (GPU $/h over the declared goodput), whether
    reserved or elastic; a reserved pool that declares no goodput is priced at 0 per token
    (its effective $/Mtok, GPU cost / tokens served, is in /admin/providers).
    """
    own = _own_prices(dep)
    if own is not None:
        return own
    found = cost_map.lookup_named(*map_names(dep))
    if found is None:
        return None, None
    return found[0], f"litellm map: {found[1]}"


def needs_cost_map(deployments: Iterable[Deployment]) -> bool:
    """Is any of them priced by litellm's map (neither a pool nor priced in providers.yaml)?
    Only then is the map (~0.06 s to parse) worth loading before the first request."""
    return any(_own_prices(dep) is None for dep in deployments)


def _own_prices(dep: Deployment) -> tuple[Prices, str] | None:
    """A pool's GPU-hour or providers.yaml's prices; None: litellm's map is asked."""
    if dep.pool is not None:
        per_mtok = Decimal(str(dep.pool.amortised_per_mtok or 0.0))
        return Prices(per_mtok, per_mtok), SOURCE_POOL
    if dep.input_per_mtok is not None and dep.output_per_mtok is not None:
        prices = Prices(
            _dec(dep.input_per_mtok),
            _dec(dep.output_per_mtok),
            cached=_dec(dep.cached_input_per_mtok),
            reasoning=_dec(dep.reasoning_per_mtok),
            cache_write=_dec(dep.cache_write_per_mtok),
        )
        return prices, SOURCE_CONFIG
    return None


def map_names(dep: Deployment) -> tuple[str, ...]:
    """The names litellm's map may know the deployment by, the most specific first. Azure's
    `upstream` is a deployment name of the user's choosing, so the model key counts too."""
    prefix = MAP_PREFIX.get(dep.kind)
    names = [dep.upstream_model]
    if prefix:
        bare = dep.upstream_model.removeprefix(f"{prefix}/")
        names += [f"{prefix}/{bare}", bare, f"{prefix}/{dep.model}"]
    names += [f"{dep.provider}/{dep.upstream_model}", dep.model, f"{dep.provider}/{dep.model}"]
    return tuple(dict.fromkeys(names))


def cost_usd(dep: Deployment, usage: Usage) -> Decimal | None:
    """Every kind of token at its own price; None if unpriced."""
    hit = _RATES.get(id(dep))
    if hit is None or hit[0] is not dep:  # (an id can be reused once its object is gone)
        if len(_RATES) > 10_000:  # reloads make new deployments: forget the old ones
            _RATES.clear()
        prices = prices_for(dep)
        hit = _RATES[id(dep)] = (dep, None if prices is None else prices.effective())
    return None if hit[1] is None else _priced(hit[1], usage)


# Rates per deployment object, built once: every request is priced, the config rarely changes.
_RATES: dict[int, tuple[Deployment, dict[str, Decimal] | None]] = {}


def priced(prices: Prices, usage: Usage) -> Decimal:
    """The cost of `usage` at `prices` (see _priced)."""
    return _priced(prices.effective(), usage)


def _priced(rate: dict[str, Decimal], usage: Usage) -> Decimal:
    """prompt_tokens include cache reads and writes, completion_tokens include reasoning (as
    vendors report them once mapped to Usage): each part is taken out and priced at its rate."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
    total = (
        (usage.prompt_tokens - cached - written) * rate["input"]
        + cached * rate["cache_read"]
        + written * rate["cache_write"]
        + (usage.completion_tokens - reasoning) * rate["output"]
        + reasoning * rate["reasoning"]
    )
    return total / MILLION


@overload
def _dec(value: float) -> Decimal: ...
@overload
def _dec(value: None) -> None: ...
@overload
def _dec(value: float | None) -> Decimal | None: ...
def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))  # via str: the decimal written
