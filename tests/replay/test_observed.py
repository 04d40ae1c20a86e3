"""Each deployment's recorded latency, looked up nearest in time, for a request sent elsewhere."""

from __future__ import annotations

from gateway.core.estimators import TYPICAL_TPOT_MS
from gateway.core.usage import Usage
from gateway.replay.observed import Observed
from gateway.replay.recorded import Sample
from tests.replay.rows import T0, dep, row

A, B = dep("a"), dep("b")


def test_near_picks_the_sample_closest_in_time() -> None:
    seen = Observed([row(10, "b/m", ttft_ms=300.0), row(0, "b/m", ttft_ms=100.0), row(1)])
    assert seen.deployments() == {"a/m", "b/m"}
    near = {t: seen.near("b/m", T0 + t) for t in (-5, 4, 5, 6, 99)}
    assert {t: s.ttft_ms if s else None for t, s in near.items()} == {
        -5: 100.0,
        4: 100.0,
        5: 100.0,  # halfway: the earlier one
        6: 300.0,
        99: 300.0,
    }
    assert seen.near("c/m", 0) is None


def test_sample_for_the_recorded_deployment_is_the_request_itself() -> None:
    seen = Observed([row(0, "b/m", ttft_ms=5.0)])
    assert seen.sample_for(A, row(0, ttft_ms=77.0)) == Sample(140.0, 77.0, 7.0)


def test_sample_for_another_deployment_at_this_request_length() -> None:
    # b streamed 5 ms to the first token, then 1 ms per token; the request has 21 tokens.
    seen = Observed([row(0, "b/m", ttft_ms=5.0, latency_ms=14.0)])
    long = row(3, usage=Usage(100, 21))
    assert seen.sample_for(B, long) == Sample(25.0, 5.0, 1.0)
    # Not streamed: the client sees the whole reply, no first token of its own.
    assert seen.sample_for(B, row(3, stream=False, ttft_ms=None)) == Sample(14.0, None, None)


def test_declared_typical_ttft_when_never_seen_else_unknown() -> None:
    seen = Observed([row(0)])
    typical = dep("c", typical_ttft_ms=400.0)
    expected = 400.0 + 9 * TYPICAL_TPOT_MS
    assert seen.sample_for(typical, row(1)) == Sample(expected, 400.0, TYPICAL_TPOT_MS)
    assert seen.sample_for(dep("c"), row(1)) is None
