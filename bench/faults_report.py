"""Metrics and tables for bench/faults.py: client samples plus the vendors' arrival times.

Times are seconds after the run's start (time.monotonic, the clock the simulator stamps
arrivals with). "Share of a" in a window = requests vendor a received (any attempt: first try,
retry or hedge) / client requests sent in that window.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEFT_SHARE = 0.10  # "left": at most 10 % of the traffic still reaches the failed vendor
BACK_FRACTION = 0.5  # "back": its share is at least half of its healthy-phase share
STEP_S = 0.05  # the rolling window slides by this much


@dataclass
class Sample:
    sent: float  # seconds after the run's start
    stream: bool
    ok: bool
    latency_ms: float
    ttft_ms: float | None  # streamed only: time to the first data event with content
    provider: str | None
    attempts: int  # x-gateway-attempts (1 when the header is missing)


@dataclass(frozen=True)
class Phases:
    duration_s: float  # each of: healthy, fault, recovered

    def of(self, t: float) -> int:
        return min(2, max(0, int(t // self.duration_s)))

    def bounds(self, phase: int) -> tuple[float, float]:
        return phase * self.duration_s, (phase + 1) * self.duration_s


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _count(times: Sequence[float], lo: float, hi: float) -> int:
    return bisect.bisect_left(times, hi) - bisect.bisect_left(times, lo)


def share(arrivals: Sequence[float], sends: Sequence[float], lo: float, hi: float) -> float:
    sent = _count(sends, lo, hi)
    return _count(arrivals, lo, hi) / sent if sent else math.nan


def first_time(
    arrivals: Sequence[float],
    sends: Sequence[float],
    lo: float,
    hi: float,
    window_s: float,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
) -> float | None:
    """Seconds after `lo` until the share in the window [t, t + window_s) meets the bound, and
    keeps meeting it for every window starting in [t, t + window_s] (so one lucky window of a
    random router does not count)."""
    starts = [lo + i * STEP_S for i in range(max(0, int((hi - lo - window_s) / STEP_S) + 1))]
    met = []
    for t in starts:
        s = share(arrivals, sends, t, t + window_s)
        low = at_most is not None and s <= at_most
        met.append(math.isnan(s) or low or (at_least is not None and s >= at_least))
    hold = int(window_s / STEP_S) + 1
    for i in range(len(met) - hold + 1):
        if all(met[i : i + hold]):
            return starts[i] - lo
    return None


def summarize(
    samples: Sequence[Sample],
    arrivals_a: Sequence[float],
    calls: Sequence[float],
    usd: float,
    phases: Phases,
    window_s: float,
) -> dict[str, float | None]:
    """One set-up's figures over the whole run (fault-phase shares and times as well)."""
    sends = sorted(s.sent for s in samples)
    arrivals, calls = sorted(arrivals_a), sorted(calls)
    ok = [s for s in samples if s.ok]
    latency = [s.latency_ms for s in ok]
    ttft = [s.ttft_ms for s in ok if s.ttft_ms is not None]
    n = len(samples)
    out: dict[str, float | None] = {
        "requests": n,
        "success": len(ok) / n if n else math.nan,
        "fault_success": _fault_success(samples, phases),
        "retries_per_req": sum(s.attempts - 1 for s in samples) / n if n else math.nan,
        "upstream_calls_per_req": len(calls) / n if n else math.nan,
        "usd_per_1k": usd / n * 1000 if n else math.nan,
    }
    for q in (0.5, 0.95, 0.99):
        out[f"latency_p{round(q * 100)}"] = percentile(latency, q)
        out[f"ttft_p{round(q * 100)}"] = percentile(ttft, q)
    for phase, name in enumerate(("healthy", "fault", "recovered")):
        lo, hi = phases.bounds(phase)
        out[f"a_share_{name}"] = share(arrivals, sends, lo, hi)
        out[f"upstream_calls_per_req_{name}"] = share(calls, sends, lo, hi)
    healthy = out["a_share_healthy"] or 0.0
    lo, hi = phases.bounds(1)
    out["left_s"] = first_time(arrivals, sends, lo, hi, window_s, at_most=LEFT_SHARE)
    lo, hi = phases.bounds(2)
    back = BACK_FRACTION * healthy
    out["back_s"] = first_time(arrivals, sends, lo, hi, window_s, at_least=back) if back else None
    return out


def _fault_success(samples: Sequence[Sample], phases: Phases) -> float:
    during = [s for s in samples if phases.of(s.sent) == 1]
    return sum(s.ok for s in during) / len(during) if during else math.nan


def _pct(v: float | None) -> str:
    return "—" if v is None or math.isnan(v) else f"{v:.1%}"


def _ms(*vs: float | None) -> str:
    return " / ".join("—" if v is None or math.isnan(v) else f"{v:.0f}" for v in vs)


def _s(v: float | None, never: str) -> str:
    return never if v is None else f"{v:.2f}"


def table(results: Mapping[str, Mapping[str, float | None]], horizon_s: float) -> str:
    """One markdown row per set-up; `horizon_s`: the latest time a phase can show."""
    head = (
        "| set-up | requests | success (fault phase) | latency p50 / p95 / p99 ms "
        "| TTFT p50 / p95 / p99 ms | retries / req | upstream calls / req "
        "| a's share healthy / fault / recovered | left a (s) | back on a (s) | $ / 1k req |"
    )
    rows = [head, "|---" * 11 + "|"]
    for name, r in results.items():
        shares = " / ".join(_pct(r[f"a_share_{p}"]) for p in ("healthy", "fault", "recovered"))
        rows.append(
            f"| {name} | {r['requests']:.0f} | {_pct(r['success'])} ({_pct(r['fault_success'])})"
            f" | {_ms(r['latency_p50'], r['latency_p95'], r['latency_p99'])}"
            f" | {_ms(r['ttft_p50'], r['ttft_p95'], r['ttft_p99'])}"
            f" | {r['retries_per_req']:.3f} | {r['upstream_calls_per_req']:.3f} | {shares}"
            f" | {_s(r['left_s'], f'> {horizon_s:g}')} | {_s(r['back_s'], f'> {horizon_s:g}')}"
            f" | {r['usd_per_1k']:.4f} |"
        )
    return "\n".join(rows)
