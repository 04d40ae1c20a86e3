"""A streaming log-normal fit of one deployment's latency, and the chance it misses a target.

O(1) per observation: an exponentially weighted mean and variance of ln(ms) whose weight (the
effective number of samples) decays with idle time, so an idle deployment's fit fades back
towards the prior (its published typical TTFT, with a wide spread) and it is tried again.
Pure: time is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

MAX_WEIGHT = 12.0  # at most ~12 recent samples count: a slow-down moves the fit within a few
FIT_TAU_S = 8.0  # an idle fit loses weight with this time constant
PRIOR_WEIGHT = 1.0  # the prior counts as this many samples
PRIOR_SIGMA = 0.5  # spread of ln(ms) assumed around a published typical TTFT (wide: x1.65)
MIN_SIGMA = 0.08  # no fit is trusted to be sharper than this
# A sample this many sigmas (or twice) faster than the fit says the deployment recovered, when
# it is a probe (a request sent to a deployment the scorer had left, to see whether it changed)
# or came after no sample for RESTART_GAP_S (a replica that did not send the probe).
CHANGE_Z = 2.0
RESTART_GAP_S = 2.0
_FLOOR_MS = 0.1


@dataclass(frozen=True, slots=True)
class LogFit:
    """Mean and variance of ln(latency ms) and how many (decayed) samples back them."""

    mean: float
    var: float
    weight: float


def observe(
    fit: LogFit | None,
    sample_ms: float,
    dt_s: float = 0.0,
    cap: float = MAX_WEIGHT,
    *,
    probe: bool = False,
) -> LogFit:
    """Fold one sample in, `dt_s` seconds after the fit's last update; `probe`: it answers a
    request sent to see whether a deployment we had left changed."""
    x = math.log(max(sample_ms, _FLOOR_MS))
    if fit is None or fit.weight <= 0:
        return LogFit(x, 0.0, 1.0)
    d = x - fit.mean
    faded = fade(fit, dt_s)
    sigma = max(math.sqrt(max(fit.var, 0.0)), MIN_SIGMA)
    if (probe or dt_s >= RESTART_GAP_S) and d < -min(CHANGE_Z * sigma, math.log(2.0)):
        # A probe of a deployment we had left, far faster than its fit: it recovered (the gap
        # alone was the only sign of a probe once; probes now come every few seconds). Only
        # this way round: noise on our side (a busy host) makes samples slower, never faster.
        return LogFit(x, fit.var, 1.0)  # its spread kept: one sample does not make it sharp
    n = min(faded.weight + 1.0, cap)
    a = 1.0 / n
    return LogFit(fit.mean + a * d, (1.0 - a) * (fit.var + a * d * d), n)


def past_target(fit: LogFit | None, waits_ms: Iterable[float], target_ms: float) -> LogFit | None:
    """The fit with the attempts still waiting for a first token past the target folded in.

    Each is a sample known only to be longer than its wait (censored): taken at its expected
    value given that, under the fit. Evidence before those attempts complete: a deployment that
    slows down is left a target's worth of waiting after it did, not once its slow answers are
    in. Waits within the target are left out: they may yet meet it.
    """
    for waited in sorted(waits_ms):
        if waited > target_ms:
            fit = observe(fit, math.exp(_mean_above(fit, waited)))
    return fit


def _mean_above(fit: LogFit | None, ms: float) -> float:
    """E[ln latency | latency > ms] under the fit (ln ms itself when the fit gives no weight)."""
    x = math.log(max(ms, _FLOOR_MS))
    if fit is None or fit.weight <= 0:
        return x
    sigma = max(math.sqrt(max(fit.var, 0.0)), MIN_SIGMA)
    z = (x - fit.mean) / sigma
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    if tail < 1e-12:  # far past the fit: the wait itself is the best guess there is
        return x
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return max(fit.mean + sigma * density / tail, x)


def fade(fit: LogFit, dt_s: float, tau_s: float = FIT_TAU_S) -> LogFit:
    """The same fit, backed by fewer samples after `dt_s` idle seconds."""
    if dt_s <= 0:
        return fit
    return LogFit(fit.mean, fit.var, fit.weight * math.exp(-dt_s / tau_s))


def pooled(parts: list[LogFit]) -> LogFit | None:
    """Several replicas' fits of one deployment as one (a mixture's mean and variance)."""
    weight = sum(p.weight for p in parts)
    if weight <= 0:
        return parts[0] if parts else None
    mean = sum(p.mean * p.weight for p in parts) / weight
    var = sum(p.weight * (p.var + (p.mean - mean) ** 2) for p in parts) / weight
    return LogFit(mean, var, min(weight, MAX_WEIGHT))


def with_prior(fit: LogFit | None, prior_ms: float | None) -> LogFit | None:
    """The fit blended with the prior: a published typical value with a wide spread, or, with
    none published, the fit's own centre with that spread (few samples: wide uncertainty).
    None when nothing is known at all."""
    if prior_ms is None and fit is None:
        return None
    m0 = math.log(max(prior_ms, _FLOOR_MS)) if prior_ms is not None else fit.mean  # type: ignore[union-attr]
    v0 = PRIOR_SIGMA**2
    if fit is None:
        return LogFit(m0, v0, 0.0)
    w, k = fit.weight, PRIOR_WEIGHT
    mean = (w * fit.mean + k * m0) / (w + k)
    var = (w * (fit.var + (fit.mean - mean) ** 2) + k * (v0 + (m0 - mean) ** 2)) / (w + k)
    return LogFit(mean, var, w)


def p_above(fit: LogFit | None, target_ms: float) -> float:
    """P(latency > target) under the log-normal fit; 0 for an unknown fit (an optimistic
    prior, so a deployment nothing is known of gets measured)."""
    if fit is None:
        return 0.0
    sigma = max(math.sqrt(max(fit.var, 0.0)), MIN_SIGMA)
    z = (math.log(max(target_ms, _FLOOR_MS)) - fit.mean) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def quantile_ms(fit: LogFit, q: float) -> float:
    """The q-quantile of the fit in ms (for explain and the admin view)."""
    sigma = max(math.sqrt(max(fit.var, 0.0)), MIN_SIGMA)
    return math.exp(fit.mean + sigma * NormalDist().inv_cdf(q))
