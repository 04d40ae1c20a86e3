"""One cheap pseudo-random draw from a timestamp, for cool-downs that must not align."""

from __future__ import annotations


def jitter(at: float) -> float:
    """A number in [0, 1) that differs per replica and per moment, without shared RNG state."""
    return (at * 7919.0) % 1.0
