"""Replica choice inside a pool: predicted TTFT from load and queued prefill, with prefix affinity.

Pure: the replicas' state, the clock and the tie draw come in. The pool's best prediction is
also what the route's scorer sees for the pool as a whole (`best_ttft_s`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.upstream.pool_metrics import ReplicaLoad

STALE_S = 2.0  # a scrape older than this says nothing: the replica counts as busy
KV_FULL = 0.95  # KV-cache usage at which new requests queue even with free batch slots
BASE_TTFT_S = 0.005  # scheduling and network overhead of a first token on an idle replica
# Affinity is honoured only while the cached replica is at most this many requests busier than
# the least loaded one (a quarter of a batch, at least one) and not predicted much slower.
AFFINITY_LOAD_SHARE = 0.25
AFFINITY_TTFT_SLACK_S = 0.05
# Calibration: predictions are scaled by an EWMA of observed/predicted TTFT per replica, so a
# declared prefill speed that is wrong (or a replica slower than its siblings) is corrected.
CALIBRATION_ALPHA = 0.2
BIAS_RANGE = (0.1, 100.0)  # a sanity bound: declared speeds can be far off


@dataclass(frozen=True, slots=True)
class Capacity:
    max_batch: int
    max_queue: int  # requests beyond the batch the gateway lets wait on one replica
    prefill_tokens_per_s: float
    scraped: bool = True  # False: the engine exports no metrics, our in-flight is the load

    @property
    def limit(self) -> int:
        """The safety limit: never more requests in flight on one replica than this."""
        return self.max_batch + self.max_queue


@dataclass(frozen=True, slots=True)
class ReplicaState:
    healthy: bool
    load: ReplicaLoad | None  # the last scrape
    in_flight: int  # our requests on it now
    in_flight_at_scrape: int  # ours when that scrape answered
    fresh_prefill_tokens: int  # prompt tokens we sent since that scrape, not yet prefilled
    service_s: float  # typical duration of one request on it (measured)
    ttft_bias: float = 1.0  # observed / predicted TTFT on it so far (see calibrate)


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    ttft_s: float
    affine: bool  # chosen for its cached prefix


def outstanding(r: ReplicaState, cap: Capacity, now: float) -> float:
    """Requests running or waiting on the replica: the scrape corrected by our own since then."""
    if not cap.scraped:
        return float(r.in_flight)
    if r.load is None or now - r.load.at > STALE_S:
        return float(max(r.in_flight, cap.max_batch))  # unknown load is busy, not idle
    n = r.load.running + r.load.waiting + (r.in_flight - r.in_flight_at_scrape)
    if r.load.kv_usage is not None and r.load.kv_usage >= KV_FULL:
        n = max(n, float(cap.max_batch))
    return max(n, float(r.in_flight), 0.0)


def predict_ttft_s(
    r: ReplicaState, cap: Capacity, now: float, *, prompt_tokens: int, cached_tokens: int = 0
) -> float:
    """Wait for a batch slot, then the prefills queued before it, then its own (calibrated)."""
    return raw_ttft_s(r, cap, now, prompt_tokens, cached_tokens) * r.ttft_bias


def raw_ttft_s(
    r: ReplicaState, cap: Capacity, now: float, prompt_tokens: int, cached_tokens: int = 0
) -> float:
    """The model's prediction before calibration."""
    n = outstanding(r, cap, now)
    beyond = max(0.0, n + 1 - cap.max_batch)  # this request's place in the waiting line
    wait = beyond / cap.max_batch * r.service_s
    own = max(prompt_tokens - cached_tokens, 1)
    prefill = (r.fresh_prefill_tokens + own) / cap.prefill_tokens_per_s
    return BASE_TTFT_S + wait + prefill


def calibrate(bias: float, raw_predicted_s: float, observed_s: float) -> float:
    """Fold one observed TTFT into the replica's bias (a ratio, averaged in log space so that
    twice too fast and twice too slow weigh the same), bounded."""
    if raw_predicted_s <= 0 or observed_s <= 0:
        return bias
    ratio = observed_s / raw_predicted_s
    new = math.exp((1 - CALIBRATION_ALPHA) * math.log(bias) + CALIBRATION_ALPHA * math.log(ratio))
    return min(max(new, BIAS_RANGE[0]), BIAS_RANGE[1])


def eligible(r: ReplicaState, cap: Capacity, now: float) -> bool:
    return r.healthy and r.in_flight < cap.limit and outstanding(r, cap, now) < cap.limit


def choose(
    replicas: Sequence[ReplicaState],
    cap: Capacity,
    now: float,
    *,
    prompt_tokens: int,
    affine: int | None = None,
    affine_tokens: int = 0,
    tie: float = 0.0,
) -> Choice | None:
    """The replica with the lowest predicted TTFT, or the one holding the prompt's prefix if
    that costs little; None when every replica is unhealthy or at its safety limit."""
    open_ = [i for i, r in enumerate(replicas) if eligible(r, cap, now)]
    if not open_:
        return None
    loads = {i: outstanding(replicas[i], cap, now) for i in open_}
    preds = {i: predict_ttft_s(replicas[i], cap, now, prompt_tokens=prompt_tokens) for i in open_}
    key = {i: (round(preds[i], 4), loads[i]) for i in open_}
    best_key = min(key.values())
    tied = [i for i in open_ if key[i] == best_key]
    best = tied[min(int(tie * len(tied)), len(tied) - 1)]  # spread equals, don't herd
    if affine is None or affine not in loads:
        return Choice(best, preds[best], False)
    cached = predict_ttft_s(
        replicas[affine], cap, now, prompt_tokens=prompt_tokens, cached_tokens=affine_tokens
    )
    slack = max(1.0, AFFINITY_LOAD_SHARE * cap.max_batch)
    if (
        loads[affine] < cap.max_batch
        and loads[affine] <= loads[best] + slack
        and cached <= preds[best] + AFFINITY_TTFT_SLACK_S
    ):
        return Choice(affine, cached, True)
    return Choice(best, preds[best], False)


def best_ttft_s(
    replicas: Sequence[ReplicaState], cap: Capacity, now: float, *, prompt_tokens: int
) -> float | None:
    """The pool's prediction for a typical request on its best replica; None: all full or down."""
    preds = [
        predict_ttft_s(r, cap, now, prompt_tokens=prompt_tokens)
        for r in replicas
        if eligible(r, cap, now)
    ]
    return min(preds, default=None)
