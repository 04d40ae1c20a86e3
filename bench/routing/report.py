"""Figures and tables for bench/routing: client samples and the vendors' tallies in, plain
numbers out. Pure (times are seconds after the run's start)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.faults_report import LEFT_SHARE, first_time, percentile, share
from bench.routing.oracle import OracleRun
from bench.routing.scenario import SIM_WINDOW_S, Arrival, Scenario, SloSpec, slo_of

BACK_FRACTION = 0.5  # re-admitted: its share is back to half of what it was before the fault
MIN_SHARE = 0.15  # a vendor carrying less than this before the fault: nothing to divert

Figures = dict[str, float | str | None]


@dataclass
class Sample:
    sent: float
    cls: str
    stream: bool
    ok: bool
    latency_ms: float
    ttft_ms: float | None  # streamed only: time to the first content event
    tokens: int  # completion tokens the client received (reported usage)
    provider: str | None = None
    attempts: int = 1


@dataclass
class VendorTally:
    """What one simulated vendor saw: every arrival (retries included) and what it billed."""

    arrivals: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status_429: int = 0


def met_slo(s: Sample, slo: SloSpec, output_tokens: int) -> bool:
    """Answered, first token within the target, and decoding at the target pace; a
    non-streamed reply within the time both targets allow together."""
    if not s.ok:
        return False
    if s.ttft_ms is None:
        return s.latency_ms <= slo.ttft_ms + slo.tpot_ms * output_tokens
    decode = (s.latency_ms - s.ttft_ms) / max(s.tokens - 1, 1)
    return s.ttft_ms <= slo.ttft_ms and decode <= slo.tpot_ms


def window_peak(times: Sequence[float], window_s: float = SIM_WINDOW_S) -> int:
    """The most arrivals in any sliding window."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0
    )


def quota_use(sc: Scenario, arrivals: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per vendor with a declared rpm: its busiest minute over the limit that holds (the
    declared one, or the vendor's own where it enforces less: a limit declared too high)."""
    return {
        v: window_peak(arrivals.get(v, ())) / min(spec.declared, spec.rpm or spec.declared)
        for v, spec in sc.vendors.items()
        if spec.declared
    }


def fault_times(
    sc: Scenario, arrivals: Sequence[float], sends: Sequence[float]
) -> tuple[float | None, float | None]:
    """Seconds from the first fault's start until its vendor's share fell to LEFT_SHARE, and
    from its end until the share was back to half its earlier level (None: never, or the
    vendor carried too little before the fault to tell)."""
    if not sc.faults:
        return None, None
    fault = sc.faults[0]
    arrivals, sends = sorted(arrivals), sorted(sends)
    before = share(arrivals, sends, 0.0, fault.start_s)
    if math.isnan(before) or before < MIN_SHARE:
        return None, None
    window = max(1.0, 20 / sc.rps)
    divert = first_time(arrivals, sends, fault.start_s, fault.end_s, window, at_most=LEFT_SHARE)
    back = BACK_FRACTION * before
    readmit = first_time(arrivals, sends, fault.end_s, sc.duration_s, window, at_least=back)
    return divert, readmit


def summarize(
    sc: Scenario, samples: Sequence[Sample], vendors: Mapping[str, VendorTally]
) -> Figures:
    slo = slo_of(sc)
    n = len(samples)
    ok = [s for s in samples if s.ok]
    ttft = [s.ttft_ms for s in ok if s.ttft_ms is not None]
    usd = sum(
        t.prompt_tokens * sc.vendors[v].price[0] + t.completion_tokens * sc.vendors[v].price[1]
        for v, t in vendors.items()
    )
    tokens = sum(t.prompt_tokens + t.completion_tokens for t in vendors.values())
    met = sum(met_slo(s, slo[s.cls], sc.output_tokens) for s in samples)
    declared = {v for v, spec in sc.vendors.items() if spec.declared}
    divert, readmit = (None, None)
    if sc.faults:
        hit = vendors.get(sc.faults[0].vendor, VendorTally())
        divert, readmit = fault_times(sc, hit.arrivals, [s.sent for s in samples])
    return {
        "requests": n,
        "success": len(ok) / n if n else math.nan,
        "ttft_p50": percentile(ttft, 0.5),
        "ttft_p95": percentile(ttft, 0.95),
        "usd": usd / 1e6,
        "usd_per_mtok": usd / tokens if tokens else math.nan,
        "slo": met / n if n else math.nan,
        "quota": _quota_text(quota_use(sc, {v: t.arrivals for v, t in vendors.items()})),
        "quota_min": min(
            quota_use(sc, {v: t.arrivals for v, t in vendors.items()}).values(), default=None
        ),
        "upstream_429": sum(t.status_429 for t in vendors.values()),
        "declared_429": sum(t.status_429 for v, t in vendors.items() if v in declared),
        "divert_s": divert,
        "readmit_s": readmit,
    }


def summarize_oracle(sc: Scenario, plan: Sequence[Arrival], run: OracleRun) -> Figures:
    n = run.requests
    tokens = run.served * (sc.prompt_tokens() + sc.output_tokens)
    use = quota_use(sc, run.per_vendor)
    divert, readmit = (None, None)
    if sc.faults:
        hit = run.per_vendor.get(sc.faults[0].vendor, [])
        divert, readmit = fault_times(sc, hit, [a.at_s for a in plan])
    return {
        "requests": n,
        "success": run.served / n if n else math.nan,
        "ttft_p50": None,
        "ttft_p95": None,
        "usd": run.usd,
        "usd_per_mtok": run.usd * 1e6 / tokens if tokens else math.nan,
        "slo": run.slo_met / n if n else math.nan,
        "quota": _quota_text(use),
        "quota_min": min(use.values(), default=None),
        "upstream_429": 0,
        "declared_429": 0,
        "divert_s": divert,
        "readmit_s": readmit,
    }


def with_oracle_ratio(rows: Mapping[str, Figures], oracle_row: Figures) -> dict[str, Figures]:
    """Each row's $/Mtok as a ratio to the oracle's."""
    base = oracle_row.get("usd_per_mtok")
    out = {}
    for name, row in rows.items():
        mine = row.get("usd_per_mtok")
        ratio = (
            float(mine) / float(base)
            if isinstance(mine, float) and isinstance(base, float) and base > 0
            else None
        )
        out[name] = {**row, "vs_oracle": ratio}
    return out


def _quota_text(use: Mapping[str, float]) -> str:
    return ", ".join(f"{v} {u:.0%}" for v, u in use.items()) or "—"


def _num(v: object, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, fmt)


def table(rows: Mapping[str, Figures]) -> str:
    """One markdown row per strategy."""
    head = (
        "| strategy | requests | success | TTFT p50 / p95 ms | $/Mtok | vs oracle | SLO met "
        "| quota use (rpm limit) | upstream 429s (on declared) | divert s | re-admit s |"
    )
    lines = [head, "|---" * 11 + "|"]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {_num(r['requests'], '.0f')} | {_num(r['success'], '.1%')}"
            f" | {_num(r['ttft_p50'], '.0f')} / {_num(r['ttft_p95'], '.0f')}"
            f" | {_num(r['usd_per_mtok'], '.3f')} | {_num(r.get('vs_oracle'), '.3f')}"
            f" | {_num(r['slo'], '.1%')} | {r['quota']}"
            f" | {_num(r['upstream_429'], 'd')} ({_num(r['declared_429'], 'd')})"
            f" | {_num(r['divert_s'], '.2f')} | {_num(r['readmit_s'], '.2f')} |"
        )
    return "\n".join(lines)
