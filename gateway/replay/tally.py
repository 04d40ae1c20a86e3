"""What happened, or would have, on one route: requests, cost, SLO attainment, split. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict


class Summary(TypedDict):
    requests: int
    cost_usd: float
    slo_attainment: float | None
    split: dict[str, float]


@dataclass
class Tally:
    requests: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced: int = 0  # served by a deployment with no known price (cost counted as 0)
    met: int = 0
    timed: int = 0  # requests whose latency is known: attainment's denominator
    split: Counter[str] = field(default_factory=Counter)

    def add(self, deployment: str, cost: Decimal | None, met: bool | None) -> None:
        self.requests += 1
        self.split[deployment] += 1
        if cost is None:
            self.unpriced += 1
        else:
            self.cost_usd += cost
        if met is not None:
            self.timed += 1
            self.met += met

    def summary(self, *, has_slo: bool) -> Summary:
        total = sum(self.split.values())
        split = {d: n / total for d, n in sorted(self.split.items(), key=lambda kv: -kv[1])}
        attainment = self.met / self.timed if has_slo and self.timed else None
        return {
            "requests": self.requests,
            "cost_usd": float(self.cost_usd.quantize(Decimal("1e-10"))),
            "slo_attainment": attainment,
            "split": split,
        }


@dataclass
class RouteReplay:
    """One route (the model name clients sent): the recorded run beside the candidate's."""

    actual: Tally = field(default_factory=Tally)
    predicted: Tally = field(default_factory=Tally)
    has_slo: bool = False  # the candidate route declares latency targets
    unserved: int = 0  # requests the candidate would not have served (route gone, quota full)
    unknown_latency: set[str] = field(default_factory=set)  # chosen, never seen, none declared
