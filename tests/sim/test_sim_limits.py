"""Sliding-window rate limits, driven with explicit clock values."""

from __future__ import annotations

from gateway.sim.limits import RateWindow, Refusal


def test_rpm_refuses_after_limit_until_the_oldest_request_leaves_the_window() -> None:
    window = RateWindow()
    assert window.admit(0.0, 1, rpm=2, tpm=None) is None
    assert window.admit(10.0, 1, rpm=2, tpm=None) is None
    assert window.admit(20.0, 1, rpm=2, tpm=None) == Refusal("requests", 2, 40)
    assert window.admit(60.5, 1, rpm=2, tpm=None) is None  # the request at 0.0 has left


def test_tpm_counts_tokens_and_says_when_enough_will_have_left() -> None:
    window = RateWindow()
    assert window.admit(0.0, 60, rpm=None, tpm=100) is None
    assert window.admit(30.0, 30, rpm=None, tpm=100) is None
    assert window.admit(31.0, 20, rpm=None, tpm=100) == Refusal("tokens", 100, 29)
    assert window.admit(61.0, 20, rpm=None, tpm=100) is None


def test_a_request_larger_than_tpm_never_fits() -> None:
    assert RateWindow().admit(0.0, 500, rpm=None, tpm=100) == Refusal("tokens", 100, 60)


def test_headers_report_remaining_capacity() -> None:
    window = RateWindow()
    window.admit(0.0, 40, rpm=5, tpm=100)
    assert window.headers(1.0, rpm=5, tpm=100) == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-limit-tokens": "100",
        "x-ratelimit-remaining-tokens": "60",
    }
    assert window.headers(1.0, rpm=None, tpm=None) == {}
    window.clear()
    assert window.headers(1.0, rpm=5, tpm=None)["x-ratelimit-remaining-requests"] == "5"
