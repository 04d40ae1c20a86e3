"""In-process Store: the embedded default when no Redis is configured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gateway.state.estimators import Estimate, Outcome, apply


class MemoryStore:
    def __init__(self) -> None:
        self._estimates: dict[str, Estimate] = {}

    def snapshot(self) -> Mapping[str, Estimate]:
        return self._estimates

    async def begin(self, deployment_id: str) -> None:
        est = self._estimates.get(deployment_id) or Estimate()
        self._estimates[deployment_id] = replace(est, in_flight=est.in_flight + 1)

    async def record(self, outcome: Outcome) -> None:
        est = self._estimates.get(outcome.deployment_id) or Estimate()
        est = apply(est, outcome)
        self._estimates[outcome.deployment_id] = replace(est, in_flight=max(est.in_flight - 1, 0))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def health(self) -> Mapping[str, object]:
        return {"backend": "memory", "ok": True}
