"""Resolve a request into the Route that serves it: model name, team, policy header, hints. Pure.

Every step can only narrow the candidates; each one it drops is kept with its reason (explain).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.config.policies import Strategy
from gateway.config.runtime import Config, Deployment, Route
from gateway.core.operation import Operation, served_as
from gateway.errors import InvalidRequest, ModelNotFound


@dataclass(frozen=True, slots=True)
class Hints:
    """Per-request narrowing (body field `gateway`): never widens what the route allows."""

    sort: Strategy | None = None
    only: frozenset[str] = frozenset()  # provider names or provider/model ids
    ignore: frozenset[str] = frozenset()
    max_price: float | None = None  # max output price per Mtok
    max_ttft_ms: float | None = None


NO_HINTS = Hints()


def resolve(
    config: Config,
    model: str,
    hints: Hints = NO_HINTS,
    *,
    team: str | None = None,
    policy: str | None = None,
    operation: Operation = Operation.CHAT,
    untranslatable: tuple[str, str] | None = None,
) -> Route:
    route = config.routes.get(model)
    if route is None:
        dep = config.deployments.get(model)
        if dep is not None:
            route = Route(name=model, targets=(dep,), max_attempts=1, source="pinned")
        elif config.default_route is not None:
            route = config.routes[config.default_route]
        else:
            raise ModelNotFound(_not_found(config, model), param="model")
    if team is not None and team in route.teams:
        route = route.teams[team]
    if policy is not None:
        route = _within(config, route, policy)
    if operation is not Operation.CHAT or any("chat" not in d.operations for d in route.targets):
        route = _serving(route, operation, model, untranslatable)
    return narrow(route, hints) if hints != NO_HINTS else route


def _serving(
    route: Route, op: Operation, model: str, untranslatable: tuple[str, str] | None
) -> Route:
    """The targets that can serve the operation, natively or (unless the request uses a feature
    with no equivalent) translated; a 400 when none can: no deployment is at fault."""
    kept: list[Deployment] = []
    dropped: list[tuple[Deployment, str]] = []
    for dep in route.targets:
        via = served_as(op, dep.operations)
        if via is None:
            dropped.append((dep, f"does not serve {op.value}"))
        elif via is not op and untranslatable is not None:
            dropped.append((dep, f"serves {op.value} only translated: {untranslatable[0]}"))
        else:
            kept.append(dep)
    if not dropped:
        return route
    if route.targets and not kept:
        if untranslatable is not None and any("translated" in why for _, why in dropped):
            message, param = untranslatable
            raise InvalidRequest(
                f"No deployment of '{model}' serves {op.endpoint} natively, and this request "
                f"cannot be translated: {message}",
                param=param,
            )
        raise InvalidRequest(f"The model '{model}' does not serve {op.endpoint}.", param="model")
    return replace(route, targets=tuple(kept), excluded=route.excluded + tuple(dropped))


def _within(config: Config, route: Route, policy: str) -> Route:
    """The route named by the x-gateway-policy header, cut down to what `route` allows."""
    chosen = config.routes.get(policy)
    if chosen is None:
        raise InvalidRequest(
            f"Unknown policy '{policy}' in x-gateway-policy.", param="x-gateway-policy"
        )
    allowed = {d.id for d in route.targets}
    kept = tuple(d for d in chosen.targets if d.id in allowed)
    dropped = tuple(
        (d, f"not allowed by route '{route.name}'") for d in chosen.targets if d.id not in allowed
    )
    return replace(chosen, targets=kept, excluded=chosen.excluded + dropped)


def narrow(route: Route, hints: Hints) -> Route:
    """The route cut down by the request's hints; a 400 naming the hint when they leave nothing
    (the request asked for the impossible: no deployment is at fault)."""
    kept: list[Deployment] = []
    dropped: list[tuple[Deployment, str]] = []
    params: list[str] = []
    for dep in route.targets:
        param, why = _hint_violation(dep, hints)
        if why:
            dropped.append((dep, why))
            params.append(param)
        else:
            kept.append(dep)
    if route.targets and not kept:
        detail = "; ".join(f"{d.id}: {why}" for d, why in dropped)
        raise InvalidRequest(
            f"The request's gateway hints exclude every target of '{route.name}' ({detail}).",
            param=params[0],
        )
    strategy = route.strategy
    if hints.sort is not None and strategy not in (Strategy.ORDERED, Strategy.WEIGHTED):
        strategy = hints.sort
    slo = route.slo
    if hints.max_ttft_ms is not None and hints.max_ttft_ms < slo.ttft_ms:
        slo = slo.model_copy(update={"ttft_ms": hints.max_ttft_ms})
    return replace(
        route,
        targets=tuple(kept),
        excluded=route.excluded + tuple(dropped),
        strategy=strategy,
        slo=slo,
    )


def _hint_violation(dep: Deployment, hints: Hints) -> tuple[str, str]:
    """(the hint's param, why it rules `dep` out), or ("", "")."""
    if hints.only and dep.provider not in hints.only and dep.id not in hints.only:
        return "gateway.only", "not in the request's gateway.only"
    if dep.provider in hints.ignore or dep.id in hints.ignore:
        return "gateway.ignore", "in the request's gateway.ignore"
    if hints.max_price is not None and (
        dep.output_per_mtok is None or dep.output_per_mtok > hints.max_price
    ):
        why = f"output price above the request's gateway.max_price {hints.max_price:g}"
        return "gateway.max_price", why
    return "", ""


def _not_found(config: Config, model: str) -> str:
    provider = model.split("/", 1)[0]
    if provider in config.unavailable:
        return f"The model '{model}' is unavailable: {config.unavailable[provider]}."
    return f"The model '{model}' does not exist or you do not have access to it."
