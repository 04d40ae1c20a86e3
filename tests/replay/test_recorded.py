"""A recorded request's latency sample, resized for another reply length, judged by an SLO."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.usage import Usage
from gateway.replay.recorded import Sample, met, resized, sample_of
from tests.replay.rows import row, slo


@pytest.mark.parametrize(
    ("fields", "sample"),
    [
        ({}, Sample(140.0, 50.0, 10.0)),  # (140 - 50) / (10 - 1)
        ({"stream": False, "ttft_ms": None}, Sample(140.0, None, None)),
        ({"usage": Usage(100, 1)}, Sample(140.0, 50.0, None)),  # one token: no decode speed
        ({"latency_ms": 40.0}, Sample(40.0, 50.0, 0.0)),  # clock skew: never negative
    ],
)
def test_sample_of(fields: dict[str, Any], sample: Sample) -> None:
    assert sample_of(row(**fields)) == sample


def test_resized_keeps_the_speed_for_another_length() -> None:
    assert resized(Sample(140.0, 50.0, 10.0), 21) == Sample(250.0, 50.0, 10.0)
    assert resized(Sample(140.0, 50.0, 10.0), 0) == Sample(50.0, 50.0, 10.0)
    whole = Sample(140.0, None, None)
    assert resized(whole, 50) == whole  # no split known: as it was


@pytest.mark.parametrize(
    ("sample", "tokens", "expected"),
    [
        (Sample(140.0, 50.0, 10.0), 10, True),
        (Sample(140.0, 201.0, 10.0), 10, False),  # first token late
        (Sample(140.0, 50.0, 21.0), 10, False),  # decode too slow
        (Sample(140.0, 200.0, None), 1, True),  # on the target is meeting it
        # A whole reply: by the time a stream meeting both targets would have ended.
        (Sample(380.0, None, None), 10, True),  # 200 + 9 x 20
        (Sample(381.0, None, None), 10, False),
        (Sample(200.0, None, None), 0, True),
    ],
)
def test_met(sample: Sample, tokens: int, expected: bool) -> None:
    assert met(sample, slo(ttft_ms=200, tpot_ms=20), tokens) is expected
