"""Pure estimator math: peak-EWMA latency and a time-decayed failure rate. Time is passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from gateway.core.circuit import Breaker, is_open, step
from gateway.core.jitter import jitter
from gateway.core.latency_fit import LogFit, fade, observe, pooled

# "rejected": the upstream refused the request itself (a 4xx of the client's making): no signal.
# "slow": it lost a hedge race: no failure, but its first token is later than the time it had.
OutcomeKind = Literal["ok", "error", "timeout", "rate_limited", "rejected", "slow"]

LATENCY_TAU_S = 5.0  # how fast a latency estimate forgets a spike once samples come in lower
FAIL_TAU_S = 10.0  # how long failures weigh; the +1 prior lets an idle provider's rate decay to 0
# Past this long without a failure, failures fade faster (time constant QUIET_TAU_S): a vendor
# left after an error burst gets only probes, whose successes barely move a ratio whose counts
# decay together, so its rate would otherwise remember the burst for tens of seconds. A vendor
# failing steadily keeps failing within the grace and keeps its full rate.
QUIET_GRACE_S = 1.0
QUIET_TAU_S = 1.5
HINT_TTL_S = 60.0  # a provider's remaining-quota header speaks for at most its window
TYPICAL_TPOT_MS = 15.0  # decode time per token assumed before any stream measured it
MIN_TTFT_SHARE = 0.1  # a non-streamed reply's TTFT is taken as at least this share of it


@dataclass(frozen=True, slots=True)
class Outcome:
    deployment_id: str
    kind: OutcomeKind
    at: float  # monotonic seconds
    latency_ms: float
    ttft_ms: float | None = None  # None for non-streamed replies
    completion_tokens: int | None = None
    hint_headroom: float | None = None  # from the provider's x-ratelimit-* headers, if sent
    hint_ttl_s: float = 0.0  # how long the hint holds (0: HINT_TTL_S); a 429's Retry-After
    probe: bool = False  # sent to a deployment the scorer had left, to see if it changed


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the store keeps per deployment (mergeable, serialisable)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    latency_ms: float | None = None
    fails: float = 0.0  # decayed count of failures (as of last_fail_at's quiet fade: fail_memory)
    total: float = 0.0  # decayed count of attempts
    updated_at: float = 0.0  # wall-clock seconds: comparable across gateway replicas
    in_flight: int = 0
    quota_headroom: float = 1.0  # from our own counters
    hint_headroom: float | None = None  # the provider's own word, from its headers
    hint_at: float = 0.0
    hint_ttl_s: float = HINT_TTL_S
    breaker: Breaker = field(default_factory=Breaker)
    # The observed distributions (log-normal fits), as of updated_at: what P(miss) reads.
    ttft_fit: LogFit | None = None
    tpot_fit: LogFit | None = None
    last_fail_at: float = 0.0  # wall-clock seconds of the latest failure (0: none)


@dataclass(frozen=True, slots=True)
class Stats:
    """What scoring sees for one deployment at one instant."""

    ttft_ms: float | None
    tpot_ms: float | None
    p_fail: float
    in_flight: int
    headroom: float = 1.0  # fraction of quota left (1.0: plenty; <= 0: exhausted)
    circuit_open: bool = False
    ttft_fit: LogFit | None = None  # faded to the instant of these stats
    tpot_fit: LogFit | None = None


def peak_ewma(
    prev: float | None, sample: float, dt_s: float, tau_s: float = LATENCY_TAU_S
) -> float:
    """Jump up to a higher sample at once; decay towards lower ones with time constant tau."""
    if prev is None or sample >= prev:
        return sample
    w = math.exp(-max(dt_s, 0.0) / tau_s)
    return prev * w + sample * (1.0 - w)


def decay(value: float, dt_s: float, tau_s: float = FAIL_TAU_S) -> float:
    return value * math.exp(-max(dt_s, 0.0) / tau_s)


def fail_memory(quiet_s: float) -> float:
    """The share of its failure count a deployment still carries `quiet_s` after its last one."""
    return math.exp(-max(quiet_s - QUIET_GRACE_S, 0.0) / QUIET_TAU_S)


def decayed_fails(est: Estimate, now: float) -> float:
    """The failure count at `now`: decayed with time, and faster once failures stopped."""
    dt = now - est.updated_at if est.updated_at else 0.0
    quiet = now - est.last_fail_at if est.last_fail_at else 0.0
    return decay(est.fails, dt) * fail_memory(quiet)


def apply(est: Estimate, outcome: Outcome) -> Estimate:
    """Fold one finished attempt into an estimate (in-flight is settled by the caller)."""
    if outcome.kind == "rejected":
        return est
    dt = outcome.at - est.updated_at if est.updated_at else 0.0
    # A 429 that takes the deployment out until its Retry-After (hint_headroom 0) says "full",
    # not "broken": it neither raises the failure rate nor trips the breaker.
    capacity = outcome.kind == "rate_limited" and outcome.hint_headroom is not None
    failed = outcome.kind not in ("ok", "slow") and not capacity
    # The quiet fade is folded in only at a failure (it restarts there); until then it is
    # applied on reading (decayed_fails), so successes in between do not compound it.
    fails = decayed_fails(est, outcome.at) + 1.0 if failed else decay(est.fails, dt)
    last_fail_at = outcome.at if failed else est.last_fail_at
    total = decay(est.total, dt) + 1.0
    ttft, tpot = est.ttft_ms, est.tpot_ms
    latency = est.latency_ms
    ttft_fit = fade(est.ttft_fit, dt) if est.ttft_fit else None
    tpot_fit = fade(est.tpot_fit, dt) if est.tpot_fit else None
    probe = outcome.probe
    if outcome.kind == "ok":
        tokens = outcome.completion_tokens or 0
        if outcome.ttft_ms is not None:
            ttft = peak_ewma(ttft, outcome.ttft_ms, dt)
            ttft_fit = observe(est.ttft_fit, outcome.ttft_ms, dt, probe=probe)
            if tokens > 1:
                sample = max((outcome.latency_ms - outcome.ttft_ms) / (tokens - 1), 0.0)
                tpot = peak_ewma(tpot, sample, dt)
                tpot_fit = observe(est.tpot_fit, sample, dt, probe=probe)
        else:
            # Non-streamed: split the total with the decode speed a stream measured, or a
            # typical one until then (charging all of it to TTFT made fast vendors look slow).
            decode_ms = tokens * (tpot if tpot is not None else TYPICAL_TPOT_MS)
            sample = max(outcome.latency_ms - decode_ms, outcome.latency_ms * MIN_TTFT_SHARE)
            ttft = peak_ewma(ttft, sample, dt)
            if est.tpot_fit is not None:
                # The fit takes it only once streams measured the decode pace (with the
                # typical pace, or a peak one, derived TTFTs scatter and widen the fit).
                decode_ms = tokens * math.exp(est.tpot_fit.mean)
                sample = max(outcome.latency_ms - decode_ms, outcome.latency_ms * MIN_TTFT_SHARE)
                ttft_fit = observe(est.ttft_fit, sample, dt, probe=probe)
        latency = peak_ewma(latency, outcome.latency_ms, dt)
    elif outcome.kind in ("timeout", "slow"):
        # A timeout is evidence of slowness; a fast error is not evidence of speed.
        ttft = peak_ewma(ttft, outcome.latency_ms, dt)
        ttft_fit = observe(est.ttft_fit, outcome.latency_ms, dt)
    breaker = step(
        est.breaker,
        failed=failed,
        fail_rate=fails / (total + 1.0),
        attempts=total,
        now=outcome.at,
        jitter=jitter(outcome.at),
    )
    est = replace(est, breaker=breaker)
    if outcome.hint_headroom is not None:
        ttl = outcome.hint_ttl_s or HINT_TTL_S
        est = replace(est, hint_headroom=outcome.hint_headroom, hint_at=outcome.at, hint_ttl_s=ttl)
    return replace(
        est,
        ttft_ms=ttft,
        tpot_ms=tpot,
        latency_ms=latency,
        fails=fails,
        total=total,
        updated_at=outcome.at,
        last_fail_at=last_fail_at,
        ttft_fit=ttft_fit,
        tpot_fit=tpot_fit,
    )


def to_stats(est: Estimate, now: float) -> Stats:
    dt = now - est.updated_at if est.updated_at else 0.0
    fails = decayed_fails(est, now)
    total = decay(est.total, dt)
    free = est.quota_headroom
    if est.hint_headroom is not None and now - est.hint_at < est.hint_ttl_s:
        free = min(free, est.hint_headroom)
    return Stats(
        ttft_ms=est.ttft_ms,
        tpot_ms=est.tpot_ms,
        p_fail=fails / (total + 1.0),
        in_flight=est.in_flight,
        headroom=free,
        circuit_open=is_open(est.breaker, now),
        ttft_fit=fade(est.ttft_fit, dt) if est.ttft_fit else None,
        tpot_fit=fade(est.tpot_fit, dt) if est.tpot_fit else None,
    )


def merge(parts: list[Estimate]) -> Estimate:
    """Combine the estimates several gateway replicas hold for one deployment.

    Latencies are averaged by each replica's recent sample weight; failure counts add up.
    """
    if len(parts) == 1:
        return parts[0]
    weight = sum(p.total for p in parts)

    def mean(values: list[tuple[float | None, float]]) -> float | None:
        known = [(v, w) for v, w in values if v is not None]
        if not known:
            return None
        total_w = sum(w for _, w in known)
        if total_w <= 0:
            return max(v for v, _ in known)
        return sum(v * w for v, w in known) / total_w

    newest = max(parts, key=lambda p: p.hint_at)
    at = max(p.updated_at for p in parts)
    last_fail = max(p.last_fail_at for p in parts)

    def fits(which: str) -> LogFit | None:
        known = [(getattr(p, which), p.updated_at) for p in parts]
        return pooled([fade(f, at - t) for f, t in known if f is not None])

    return Estimate(
        ttft_ms=mean([(p.ttft_ms, p.total) for p in parts]),
        tpot_ms=mean([(p.tpot_ms, p.total) for p in parts]),
        latency_ms=mean([(p.latency_ms, p.total) for p in parts]),
        # Each replica's count faded to the latest failure any of them saw (the quiet fade).
        fails=sum(
            p.fails * (fail_memory(last_fail - p.last_fail_at) if p.last_fail_at else 1.0)
            for p in parts
        ),
        total=weight,
        updated_at=max(p.updated_at for p in parts),
        in_flight=sum(p.in_flight for p in parts),
        quota_headroom=min(p.quota_headroom for p in parts),
        hint_headroom=newest.hint_headroom,
        hint_at=newest.hint_at,
        hint_ttl_s=newest.hint_ttl_s,
        breaker=max((p.breaker for p in parts), key=lambda b: (b.open_until, b.streak)),
        ttft_fit=fits("ttft_fit"),
        tpot_fit=fits("tpot_fit"),
        last_fail_at=last_fail,
    )
