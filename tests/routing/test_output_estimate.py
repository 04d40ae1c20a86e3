from __future__ import annotations

from gateway.routing.output_estimate import OutputEstimate


def test_default_until_enough_samples_then_recent_p90() -> None:
    est = OutputEstimate(default=256)
    for _ in range(7):
        est.observe("r", 20)
    assert est.expected("r") == 256
    est.observe("r", 20)
    assert est.expected("r") == 20
    for n in range(1, 129):
        est.observe("r", n)
    assert 110 <= est.expected("r") <= 120  # p90 of 1..128
    assert est.expected("other") == 256
