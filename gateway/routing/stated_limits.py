"""The request rate a vendor states for our key, held where it is below what was declared.

A vendor's `x-ratelimit-limit-requests` header (OpenAI's, and the simulator's: requests per
minute for this key and model) says what it accepts, whatever providers.yaml declares.
Reservations for the deployment are made against its model scope's rpm capped at that, through
the same quota windows as a declared limit: a limit declared too high, or not at all, is then
held (less the safety margin) instead of being found with 429s. Only ever lower: a vendor whose
header counts per day states more than a minute window could reach, which changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gateway.config.runtime import Deployment

STATED_RPM = "x-ratelimit-limit-requests"


def stated_rpm(headers: Mapping[str, str]) -> int | None:
    """The rpm the vendor states in its headers; None if it sent none we can read."""
    raw = headers.get(STATED_RPM)
    try:
        rpm = int(float(raw)) if raw is not None else 0
    except ValueError:
        return None
    return rpm if rpm > 0 else None


def capped(dep: Deployment, rpm: int | None) -> Deployment:
    """The deployment with its model scope's rpm at most `rpm` (the same object if that is no
    change). The provider scope is left alone: several models may share it, each with its own
    stated limit."""
    limits = tuple(
        replace(lim, rpm=rpm)
        if rpm is not None and lim.scope.startswith("m:") and (lim.rpm is None or rpm < lim.rpm)
        else lim
        for lim in dep.limits
    )
    return dep if limits == dep.limits else replace(dep, limits=limits)


class StatedLimits:
    """What each deployment's vendor last stated, and its deployments as reservations see them."""

    def __init__(self) -> None:
        self._rpm: dict[str, int] = {}
        self._capped: dict[str, tuple[Deployment, int, Deployment]] = {}  # (as declared, rpm)

    def learn(self, deployment_id: str, headers: Mapping[str, str]) -> None:
        rpm = stated_rpm(headers)
        if rpm is not None:
            self._rpm[deployment_id] = rpm

    def cap(self, dep: Deployment) -> Deployment:
        rpm = self._rpm.get(dep.id)
        if rpm is None:
            return dep
        cached = self._capped.get(dep.id)
        if cached is not None and cached[0] is dep and cached[1] == rpm:
            return cached[2]
        out = capped(dep, rpm)
        self._capped[dep.id] = (dep, rpm, out)
        return out
