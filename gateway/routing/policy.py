"""Resolve the model name a client sent into a Route, narrowed by the request's hints. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.config.policies import Strategy
from gateway.config.runtime import Config, Deployment, Route
from gateway.errors import ModelNotFound


@dataclass(frozen=True, slots=True)
class Hints:
    """Per-request narrowing (body field `gateway`): never widens what the route allows."""

    sort: Strategy | None = None
    only: frozenset[str] = frozenset()  # provider names or provider/model ids
    ignore: frozenset[str] = frozenset()
    max_price: float | None = None  # max output price per Mtok
    max_ttft_ms: float | None = None


NO_HINTS = Hints()


def resolve(config: Config, model: str, hints: Hints = NO_HINTS) -> Route:
    route = config.routes.get(model)
    if route is None:
        dep = config.deployments.get(model)
        if dep is None:
            raise ModelNotFound(_not_found(config, model), param="model")
        route = Route(name=model, targets=(dep,), max_attempts=1, source="pinned")
    return narrow(route, hints) if hints != NO_HINTS else route


def narrow(route: Route, hints: Hints) -> Route:
    targets = tuple(d for d in route.targets if _allowed(d, hints))
    strategy = route.strategy
    if hints.sort is not None and strategy is not Strategy.ORDERED:
        strategy = hints.sort
    slo = route.slo
    if hints.max_ttft_ms is not None and hints.max_ttft_ms < slo.ttft_ms:
        slo = slo.model_copy(update={"ttft_ms": hints.max_ttft_ms})
    return replace(route, targets=targets, strategy=strategy, slo=slo)


def _allowed(dep: Deployment, hints: Hints) -> bool:
    if hints.only and dep.provider not in hints.only and dep.id not in hints.only:
        return False
    if dep.provider in hints.ignore or dep.id in hints.ignore:
        return False
    if hints.max_price is not None:
        return dep.output_per_mtok is not None and dep.output_per_mtok <= hints.max_price
    return True


def _not_found(config: Config, model: str) -> str:
    provider = model.split("/", 1)[0]
    if provider in config.unavailable:
        return f"The model '{model}' is unavailable: {config.unavailable[provider]}."
    return f"The model '{model}' does not exist or you do not have access to it."
