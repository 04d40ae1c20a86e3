"""`gateway models`: every public model, its candidates, what they serve and what each kind of
token costs there, with where the price came from (providers.yaml, litellm's map, a pool)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.config.runtime import Config, Deployment
from gateway.core.operation import Operation, served_as
from gateway.ledger.pricing import priced_from

_PUBLIC_OPS = tuple(op for op in Operation if op is not Operation.COUNT_TOKENS)
PRICE_COLUMNS = ("input", "cache_read", "cache_write", "output", "reasoning")


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str  # the public name (or alias) a client asks for
    deployment: str
    kind: str
    operations: tuple[str, ...]  # "chat", "messages (via chat)", ...
    prices: dict[str, Decimal] | None  # USD per million tokens, each kind's effective rate
    source: str | None  # None: unpriced
    unavailable: str | None = None  # why its provider is skipped here (its key unset)

    def as_json(self) -> dict[str, Any]:
        prices = None if self.prices is None else {k: str(v) for k, v in self.prices.items()}
        return {
            "model": self.model,
            "deployment": self.deployment,
            "kind": self.kind,
            "operations": list(self.operations),
            "prices_per_mtok": prices,
            "price_source": self.source,
            "unavailable": self.unavailable,
        }


class AnyKeyEnv(Mapping[str, str]):
    """The environment, with every variable a provider names present: loading the config with
    it lists the providers whose key is unset too."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, key: str) -> str:
        return self._env.get(key) or "(listing only)"

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def candidates(config: Config, unavailable: Mapping[str, str]) -> Iterator[Candidate]:
    """One row per (public model, candidate deployment), public models in name order."""
    for name in sorted(config.routes):
        for dep in config.routes[name].targets:
            yield candidate(name, dep, unavailable.get(dep.provider))


def candidate(name: str, dep: Deployment, unavailable: str | None = None) -> Candidate:
    prices, source = priced_from(dep)
    effective = None if prices is None else prices.effective()
    return Candidate(name, dep.id, dep.kind, operations(dep), effective, source, unavailable)


def operations(dep: Deployment) -> tuple[str, ...]:
    out = []
    for op in _PUBLIC_OPS:
        via = served_as(op, dep.operations)
        if via is op:
            out.append(op.value)
        elif via is not None:
            out.append(f"{op.value} (via {via.value})")
    return tuple(out)


def print_table(rows: list[Candidate]) -> None:
    """The rows as a table on stdout (USD per million tokens; '-' where unpriced)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Public models: candidates, operations and prices (USD per 1M tokens)")
    for name in ("model", "deployment", "kind", "operations"):
        table.add_column(name, no_wrap=name != "operations")
    for name in PRICE_COLUMNS:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("price from")
    table.add_column("available")
    for row in rows:
        prices = [_usd(row.prices[c]) if row.prices else "-" for c in PRICE_COLUMNS]
        table.add_row(
            row.model,
            row.deployment,
            row.kind,
            ", ".join(row.operations),
            *prices,
            row.source or "unpriced",
            "no" if row.unavailable else "yes",
        )
    console = Console(width=200)
    console.print(table)
    for provider, why in sorted({r.deployment.split("/")[0]: r.unavailable for r in rows}.items()):
        if why:
            console.print(f"unavailable here: {provider}: {why}")


def _usd(value: Decimal) -> str:
    return f"{value.normalize():f}"
