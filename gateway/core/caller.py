"""Who is calling: resolved once per request at the edge (gateway.api.auth), carried inward."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    team: str | None = None  # picks the policy's team variant; lands in every spend row
    key_id: str | None = None  # the key's id (never the key), for spend_log.key_id
    models: frozenset[str] | None = None  # the models this caller may use; None: all
    is_master: bool = False

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


ANONYMOUS = Caller()
