"""A routing scenario file: vendors (price, speed, limits), a fault schedule, the offered load.

Pure: parsing and the per-instant view of a vendor that the oracle and the driver share.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SIM_WINDOW_S = 60.0  # the simulator's sliding rate window (gateway.sim.limits)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SloSpec(_Strict):
    ttft_ms: float = Field(gt=0)
    tpot_ms: float = Field(default=100.0, gt=0)


class TrafficClass(_Strict):
    """A share of the requests with its own latency target (its own route)."""

    name: str = "chat"
    share: float = Field(default=1.0, gt=0)
    slo: SloSpec


class VendorSpec(_Strict):
    price: tuple[float, float]  # USD per Mtok: input, output
    ttft_ms: float = Field(gt=0)
    ttft_jitter: float = Field(default=0.2, ge=0, le=1)
    tokens_per_s: float = Field(default=200.0, gt=0)
    rpm: int | None = Field(default=None, gt=0)  # what the vendor enforces (429 above it)
    # What providers.yaml declares: default the real rpm; `0` declares none.
    declared_rpm: int | None = Field(default=None, ge=0)
    published_ttft_ms: float | None = None  # providers.yaml typical_ttft_ms (default: ttft_ms)

    @property
    def declared(self) -> int | None:
        if self.declared_rpm is None:
            return self.rpm
        return self.declared_rpm or None


class Fault(_Strict):
    """From start_s to end_s the vendor's fields are `set`; at end_s they are restored."""

    vendor: str
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    set: dict[str, float | int | str]

    @model_validator(mode="after")
    def _ordered(self) -> Fault:
        if self.end_s <= self.start_s:
            raise ValueError("fault end_s must be after start_s")
        return self


class Scenario(_Strict):
    name: str
    description: str = ""
    duration_s: float = Field(gt=0)
    rps: float = Field(gt=0)
    stream_share: float = Field(default=0.5, ge=0, le=1)
    prompt_chars: int = Field(default=1600, ge=1)
    output_tokens: int = Field(default=16, ge=1)
    seed: int = 7
    classes: tuple[TrafficClass, ...] = Field(min_length=1)
    vendors: dict[str, VendorSpec] = Field(min_length=1)
    faults: tuple[Fault, ...] = ()

    @model_validator(mode="after")
    def _known_vendors(self) -> Scenario:
        for fault in self.faults:
            if fault.vendor not in self.vendors:
                raise ValueError(f"fault on unknown vendor {fault.vendor!r}")
        return self

    def by_price(self) -> list[str]:
        """Vendors, cheapest first (by the cost of one typical request)."""
        return sorted(self.vendors, key=lambda v: self.request_usd(v))

    def prompt_tokens(self) -> int:
        return max(1, math.ceil(self.prompt_chars / 4))  # the simulator's count (chars / 4)

    def request_usd(self, vendor: str) -> float:
        pin, pout = self.vendors[vendor].price
        return (self.prompt_tokens() * pin + self.output_tokens * pout) / 1e6


def load(path: str | Path) -> Scenario:
    with open(path, encoding="utf-8") as fh:
        return Scenario.model_validate(yaml.safe_load(fh))


@dataclass(frozen=True, slots=True)
class Arrival:
    at_s: float
    stream: bool
    cls: str


def arrivals(sc: Scenario) -> list[Arrival]:
    """Open-loop Poisson arrivals, each with its stream flag and traffic class (seeded)."""
    rng = random.Random(sc.seed)
    total = sum(c.share for c in sc.classes)
    plan, t = [], rng.expovariate(sc.rps)
    while t < sc.duration_s:
        pick, acc, cls = rng.random() * total, 0.0, sc.classes[-1].name
        for c in sc.classes:
            acc += c.share
            if pick < acc:
                cls = c.name
                break
        plan.append(Arrival(t, rng.random() < sc.stream_share, cls))
        t += rng.expovariate(sc.rps)
    return plan


def state_at(sc: Scenario, vendor: str, t: float) -> dict[str, Any]:
    """The vendor's behaviour fields at `t` (its base values with the active faults applied)."""
    spec = sc.vendors[vendor]
    now: dict[str, Any] = {
        "ttft_ms": spec.ttft_ms,
        "ttft_jitter": spec.ttft_jitter,
        "tokens_per_s": spec.tokens_per_s,
        "rpm": spec.rpm,
        "error_rate": 0.0,
        "error_status": 500,
    }
    for fault in sc.faults:
        if fault.vendor == vendor and fault.start_s <= t < fault.end_s:
            now.update(fault.set)
    return now


def switches(sc: Scenario) -> list[tuple[float, str, dict[str, Any]]]:
    """(time, vendor, fields to set) in time order: each fault's start and its undoing."""
    out: list[tuple[float, str, dict[str, Any]]] = []
    for fault in sc.faults:
        base = state_at(sc.model_copy(update={"faults": ()}), fault.vendor, 0.0)
        out.append((fault.start_s, fault.vendor, dict(fault.set)))
        out.append((fault.end_s, fault.vendor, {k: base.get(k) for k in fault.set}))
    return sorted(out, key=lambda s: s[0])


def slo_of(sc: Scenario) -> Mapping[str, SloSpec]:
    return {c.name: c.slo for c in sc.classes}
