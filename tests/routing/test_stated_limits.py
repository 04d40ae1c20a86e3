"""A vendor's stated rpm caps the model scope's rpm reservations are made against: tables."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.config.runtime import Deployment, ScopeLimit
from gateway.routing.stated_limits import StatedLimits, capped, stated_rpm
from tests.factories import deployment


def dep(p_rpm: int | None, m_rpm: int | None) -> Deployment:
    limits = (ScopeLimit("p", rpm=p_rpm, tpm=1000), ScopeLimit("m:m", rpm=m_rpm))
    return replace(deployment("a"), limits=limits)


@pytest.mark.parametrize(
    ("headers", "rpm"),
    [
        ({}, None),
        ({"x-ratelimit-limit-requests": "100"}, 100),
        ({"x-ratelimit-limit-requests": "100.0"}, 100),
        ({"x-ratelimit-limit-requests": "0"}, None),
        ({"x-ratelimit-limit-requests": "many"}, None),
        ({"x-ratelimit-remaining-requests": "5"}, None),  # what is left says nothing of the limit
    ],
)
def test_stated_rpm(headers: dict[str, str], rpm: int | None) -> None:
    assert stated_rpm(headers) == rpm


@pytest.mark.parametrize(
    ("p_rpm", "m_rpm", "stated", "p_after", "m_after"),
    [
        (200, None, 100, 200, 100),  # declared for the provider only: the model's own is held
        (None, None, 100, None, 100),  # declared nowhere: held all the same
        (None, 200, 100, None, 100),  # declared too high: lowered
        (None, 80, 100, None, 80),  # declared lower: kept (never raised)
        (None, 80, None, None, 80),  # nothing stated
    ],
)
def test_capped(
    p_rpm: int | None,
    m_rpm: int | None,
    stated: int | None,
    p_after: int | None,
    m_after: int | None,
) -> None:
    before = dep(p_rpm, m_rpm)
    after = capped(before, stated)
    assert [lim.rpm for lim in after.limits] == [p_after, m_after]
    assert after.limits[0] == before.limits[0]  # the provider scope (tpm too) untouched
    assert (after is before) is (m_after == m_rpm)


def test_stated_limits_learn_per_deployment() -> None:
    limits, a, b = StatedLimits(), dep(None, None), replace(dep(None, None), id="b/m")
    assert limits.cap(a) is a
    limits.learn("a/m", {"x-ratelimit-limit-requests": "60"})
    limits.learn("a/m", {"x-ratelimit-remaining-requests": "3"})  # no limit in it: kept
    assert limits.cap(a).limits[1].rpm == 60
    assert limits.cap(a) is limits.cap(a)  # built once per stated value
    assert limits.cap(b) is b
    limits.learn("a/m", {"x-ratelimit-limit-requests": "30"})  # the vendor lowered it
    assert limits.cap(a).limits[1].rpm == 30
