"""The oracle: knows the fault schedule, sends each request to the cheapest vendor that meets
its SLO at that instant with room under the vendor's real limit. Pure, analytic: no HTTP."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bench.routing.scenario import SIM_WINDOW_S, Arrival, Scenario, SloSpec, slo_of, state_at


@dataclass
class OracleRun:
    requests: int = 0
    served: int = 0
    slo_met: int = 0
    usd: float = 0.0
    per_vendor: dict[str, list[float]] = field(default_factory=dict)  # arrival times


def healthy(state: dict[str, Any]) -> bool:
    return float(state["error_rate"]) == 0.0


def meets(state: dict[str, Any], slo: SloSpec) -> bool:
    """Its slowest first token (jitter at its top) and its decode pace meet the targets."""
    worst_ttft = float(state["ttft_ms"]) * (1 + float(state["ttft_jitter"]))
    return worst_ttft <= slo.ttft_ms and 1000.0 / float(state["tokens_per_s"]) <= slo.tpot_ms


def choose(sc: Scenario, a: Arrival, windows: dict[str, deque[float]]) -> tuple[str | None, bool]:
    """(vendor, meets its SLO) for one arrival; (None, False) when every vendor is down or
    full. `windows` holds each vendor's admitted arrival times, pruned here."""
    slo = slo_of(sc)[a.cls]
    fallback: str | None = None
    for vendor in sc.by_price():
        state = state_at(sc, vendor, a.at_s)
        win = windows.setdefault(vendor, deque())
        while win and win[0] <= a.at_s - SIM_WINDOW_S:
            win.popleft()
        rpm = state["rpm"]
        if not healthy(state) or (rpm is not None and len(win) >= int(rpm)):
            continue
        if meets(state, slo):
            return vendor, True
        fallback = fallback or vendor
    return fallback, False


def oracle(sc: Scenario, plan: list[Arrival]) -> OracleRun:
    run = OracleRun()
    windows: dict[str, deque[float]] = {}
    for a in plan:
        run.requests += 1
        vendor, met = choose(sc, a, windows)
        if vendor is None:
            continue
        windows[vendor].append(a.at_s)
        run.per_vendor.setdefault(vendor, []).append(a.at_s)
        run.served += 1
        run.slo_met += met
        run.usd += sc.request_usd(vendor)
    return run
