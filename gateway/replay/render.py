"""The replay's report: JSON (the contract in DESIGN.md) or a table for people. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.replay.tally import RouteReplay, Summary

if TYPE_CHECKING:
    from rich.table import Table

SPLIT_SHOWN = 4  # deployments named per split cell; the rest are summed as "others"


def as_json(routes: Mapping[str, RouteReplay], meta: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(meta)
    out["routes"] = {
        name: {
            "actual": r.actual.summary(has_slo=r.has_slo),
            "predicted": r.predicted.summary(has_slo=r.has_slo),
            "unserved": r.unserved,
            "unknown_latency": sorted(r.unknown_latency),
        }
        for name, r in sorted(routes.items())
    }
    return out


def table(routes: Mapping[str, RouteReplay], title: str) -> Table:
    from rich.table import Table

    out = Table(title=title)
    out.add_column("route")
    out.add_column("")
    for name in ("requests", "cost (USD)", "vs actual", "SLO met"):
        out.add_column(name, justify="right")
    out.add_column("split")
    for name, r in sorted(routes.items()):
        actual = r.actual.summary(has_slo=r.has_slo)
        predicted = r.predicted.summary(has_slo=r.has_slo)
        out.add_row(
            name, "actual", *_cells(actual), "", _pct(actual["slo_attainment"]), _split(actual)
        )
        served = f"{predicted['requests']:,}"
        if r.unserved:
            served += f" ({r.unserved:,} unserved)"
        out.add_row(
            "",
            "predicted",
            served,
            f"{predicted['cost_usd']:.6f}",
            _change(actual["cost_usd"], predicted["cost_usd"]),
            _pct(predicted["slo_attainment"]),
            _split(predicted),
        )
        if r.unknown_latency:
            unknown = ", ".join(sorted(r.unknown_latency))
            out.add_row(
                "", "", "", "", "", "", f"latency unknown (not seen, none declared): {unknown}"
            )
        out.add_section()
    return out


def _cells(s: Summary) -> tuple[str, str]:
    return f"{s['requests']:,}", f"{s['cost_usd']:.6f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _change(before: float, after: float) -> str:
    if before == 0:
        return "-" if after == 0 else "new"
    return f"{(after - before) / before:+.1%}"


def _split(s: Summary) -> str:
    shares = list(s["split"].items())
    parts = [f"{dep} {share:.0%}" for dep, share in shares[:SPLIT_SHOWN]]
    rest = sum(share for _, share in shares[SPLIT_SHOWN:])
    if rest:
        parts.append(f"others {rest:.0%}")
    return ", ".join(parts) or "-"
