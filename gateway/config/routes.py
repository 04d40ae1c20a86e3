"""Compile policies/*.yaml into Routes, checking what `gateway check` promises to catch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.config.constraints import violation
from gateway.config.policies import PolicyFile, RouteOverride, RouteSpec, Strategy
from gateway.config.runtime import Deployment, Route
from gateway.config.yamlsrc import ConfigError, Document, Loc, Problem, validate
from gateway.core.operation import Operation, served_as

WEIGHT_TOTAL = 100.0


@dataclass
class Compiled:
    routes: dict[str, Route] = field(default_factory=dict)
    default_route: str | None = None
    problems: list[Problem] = field(default_factory=list)
    _defined_in: dict[str, str] = field(default_factory=dict)


def compile_policy(
    doc: Document,
    declared: Mapping[str, Deployment],
    unavailable: Mapping[str, str],
    out: Compiled,
) -> None:
    """Add one policy file's routes to `out`; problems are collected, not raised."""
    try:
        policy = validate(PolicyFile, doc)
    except ConfigError as exc:  # keep going, so that every file's problems are listed
        out.problems.extend(exc.problems)
        return
    for name, spec in policy.routes.items():
        ctx = _Ctx(doc, declared, unavailable, out.problems)
        route = ctx.route(name, spec, spec, ("routes", name))
        teams = {
            team: ctx.route(name, spec, override, ("routes", name, "teams", team))
            for team, override in spec.teams.items()
        }
        if teams:
            route = replace(route, teams=teams)
        for public in (name, *spec.aliases):
            where = out._defined_in.get(public)
            if where is not None:
                loc = ("routes", name) if public == name else ("routes", name, "aliases")
                out.problems.append(doc.problem(loc, f"'{public}' is already defined in {where}"))
                continue
            out._defined_in[public] = f"{doc.path}:{doc.line_of(('routes', name))}"
            out.routes[public] = route
    if policy.default_route is not None:
        if out.default_route is not None:
            out.problems.append(doc.problem(("default_route",), "a default route is already set"))
        out.default_route = policy.default_route


def check_default(out: Compiled, doc_of_default: Document | None) -> None:
    if out.default_route is not None and out.default_route not in out.routes and doc_of_default:
        out.problems.append(
            doc_of_default.problem(("default_route",), f"unknown route '{out.default_route}'")
        )


@dataclass
class _Ctx:
    doc: Document
    declared: Mapping[str, Deployment]
    unavailable: Mapping[str, str]
    problems: list[Problem]

    def route(self, name: str, base: RouteSpec, spec: RouteSpec | RouteOverride, loc: Loc) -> Route:
        refs = spec.targets if spec.targets is not None else base.targets
        constraints = spec.constraints or base.constraints
        slo = spec.slo or base.slo
        failover = spec.failover or base.failover
        timeouts = spec.timeouts or base.timeouts
        strategy = spec.strategy or base.strategy
        weights = spec.weights if spec.weights is not None else base.weights
        targets: list[Deployment] = []
        excluded: list[tuple[Deployment, str]] = []
        listed: list[Deployment] = []
        for i, ref in enumerate(refs):
            dep = self.declared.get(ref)
            if dep is None:
                self._problem(
                    (*loc, "targets", i), f"unknown target '{ref}'", "want provider/model"
                )
                continue
            listed.append(dep)
            why = violation(dep, constraints)
            if why.startswith("lacks required capability"):
                self._problem((*loc, "targets", i), f"'{ref}' {why}", "drop it or the requirement")
            if dep.provider in self.unavailable:
                continue  # skipped for a missing key: reported by check, not an error
            if why:
                excluded.append((dep, why))
            else:
                targets.append(dep)
        if listed and all(violation(d, constraints) for d in listed):
            self._problem((*loc, "constraints"), "the constraints exclude every target")
        declared_ttft = [d.typical_ttft_ms for d in listed]
        if listed and all(t is not None and t > slo.ttft_ms for t in declared_ttft):
            self._problem(
                (*loc, "slo", "ttft_ms"),
                f"no target can meet {slo.ttft_ms:g} ms by its declared typical_ttft_ms",
                "raise the target or add a faster deployment",
            )
        self._serves(base.operations or (), listed, loc)
        shares = self._weights(weights or {}, refs, strategy, loc)
        return Route(
            name=name,
            targets=tuple(targets),
            strategy=strategy,
            slo=slo,
            max_attempts=failover.max_attempts,
            source=str(self.doc.path),
            weights=shares,
            constraints=constraints,
            excluded=tuple(excluded),
            deadline_s=failover.deadline_ms / 1000 if failover.deadline_ms else None,
            connect_timeout_s=timeouts.connect_ms / 1000 if timeouts.connect_ms else None,
            read_timeout_s=timeouts.read_ms / 1000 if timeouts.read_ms else None,
            first_token_timeout_s=_s(timeouts.first_token_ms),
            total_timeout_s=_s(timeouts.total_ms),
            prefer_owned_capacity=base.prefer_owned_capacity,
            hedge_after_ms=base.hedge_after_ms,
            resume=base.resume,
        )

    def _serves(self, operations: tuple[str, ...], listed: list[Deployment], loc: Loc) -> None:
        """Every target serves each operation the route is used for, natively or translated."""
        for op in operations:
            for dep in listed:
                if served_as(Operation(op), dep.operations) is None:
                    native = ", ".join(sorted(dep.operations))
                    self._problem(
                        (*loc, "operations"),
                        f"'{dep.id}' cannot serve {op} (it serves {native})",
                        "list it under the model's operations, or drop the target",
                    )

    def _weights(
        self, weights: Mapping[str, float], refs: tuple[str, ...], strategy: Strategy, loc: Loc
    ) -> dict[str, float]:
        if strategy is not Strategy.WEIGHTED:
            return {}
        for ref, share in weights.items():
            if ref not in refs:
                self._problem((*loc, "weights", ref), f"'{ref}' is not one of the targets")
            if share < 0:
                self._problem((*loc, "weights", ref), "a share must be >= 0")
        total = sum(weights.values())
        if abs(total - WEIGHT_TOTAL) > 1e-6:
            self._problem((*loc, "weights"), f"shares sum to {total:g}, not {WEIGHT_TOTAL:g}")
        return dict(weights)

    def _problem(self, loc: Loc, message: str, hint: str = "") -> None:
        self.problems.append(self.doc.problem(loc, message, hint))


def _s(ms: float | None) -> float | None:
    return ms / 1000 if ms else None
