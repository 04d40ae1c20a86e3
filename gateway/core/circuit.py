"""Circuit breaker per deployment, as pure functions of (state, outcome, time, jitter draw).

Opens on K consecutive failures or a decayed failure rate above half over enough attempts
(429 counts); stays open for a cool-down that grows 1.5x with each re-open (with jitter, so
replicas don't probe in step); then lets traffic probe it (half-open): a success closes it,
a failure re-opens it for longer.
"""

from __future__ import annotations

from dataclasses import dataclass

CONSECUTIVE_FAILURES = 5
RATE_THRESHOLD = 0.5
RATE_MIN_ATTEMPTS = 10.0
BASE_COOLDOWN_S = 2.0
MAX_COOLDOWN_S = 30.0
# Not 2x: a failed half-open probe costs one fast failover, while each second a recovered vendor
# stays out costs its price gap on all of its traffic (an 8 s error burst kept a doubling
# circuit open ~6 s past its end). A long outage still reaches the cap after a few probes.
COOLDOWN_GROWTH = 1.5


@dataclass(frozen=True, slots=True)
class Breaker:
    streak: int = 0  # consecutive failures
    open_until: float = 0.0  # wall-clock seconds
    opens: int = 0  # re-opens without a success in between


def cooldown_s(opens: int, jitter: float) -> float:
    """Cool-down for the n-th consecutive opening, +/-20 % by a uniform draw in [0, 1)."""
    base = min(BASE_COOLDOWN_S * COOLDOWN_GROWTH ** max(opens - 1, 0), MAX_COOLDOWN_S)
    return base * (0.8 + 0.4 * jitter)


def step(
    b: Breaker, *, failed: bool, fail_rate: float, attempts: float, now: float, jitter: float
) -> Breaker:
    if not failed:
        return Breaker()  # any success (a half-open probe, or a degraded attempt) closes it
    streak = b.streak + 1
    tripped = streak >= CONSECUTIVE_FAILURES or (
        attempts >= RATE_MIN_ATTEMPTS and fail_rate > RATE_THRESHOLD
    )
    if now < b.open_until or not (tripped or b.opens):
        return Breaker(streak, b.open_until, b.opens)
    # Trips closed -> open, or a failed probe while half-open (opens > 0): open again, longer.
    opens = b.opens + 1
    return Breaker(streak, now + cooldown_s(opens, jitter), opens)


def is_open(b: Breaker, now: float) -> bool:
    return now < b.open_until


def half_open(b: Breaker, now: float) -> bool:
    """The cool-down is over but no request has probed it yet."""
    return b.opens > 0 and b.streak > 0 and now >= b.open_until


def held_open(b: Breaker, now: float, jitter: float) -> Breaker:
    """A free health probe failed as the cool-down ended: stay open, longer, without spending a
    client request to learn it."""
    return Breaker(b.streak, now + cooldown_s(b.opens + 1, jitter), b.opens + 1)
