"""How a vendor family words its refusals: auth, error bodies, rate-limit headers, model lists.

A `Dialect` is what differs between an OpenAI-compatible vendor and api.anthropic.com on the
shared request path (core.py); the endpoints' own bodies live in their modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from gateway.sim import wire

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.sim.limits import Refusal


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answer before any work: its status and what the body says."""

    status: int
    message: str
    type: str | None = None  # None: the dialect's type for the status
    param: str | None = None
    code: str | None = None


class Dialect(Protocol):
    outage: Failure  # what an outage in mode "error" answers

    def check(self, headers: Mapping[str, str], api_key: str | None) -> Failure | None:
        """The refusal of a request whose credentials (or required headers) are wrong."""
        ...

    def error_body(self, failure: Failure) -> bytes: ...

    def not_found(self, model: str) -> Failure: ...

    def rate_limited(self, refusal: Refusal) -> Failure: ...

    def simulated(self, status: int) -> Failure:
        """A drawn (`error_rate`) or forced (`-error-NNN` model suffix) error."""
        ...

    def rate_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """The `x-ratelimit-*` headers of RateWindow under this dialect's names."""
        ...

    def models_body(self, models: list[str], owner: str) -> bytes: ...


class OpenAIDialect:
    """OpenAI and every OpenAI-compatible vendor: Bearer keys, `{"error": {...}}` bodies."""

    outage = Failure(503, "The service is temporarily unavailable (sim outage).")

    def check(self, headers: Mapping[str, str], api_key: str | None) -> Failure | None:
        if api_key is None or headers.get("Authorization") == f"Bearer {api_key}":
            return None
        return Failure(401, "Incorrect API key provided.", code="invalid_api_key")

    def error_body(self, failure: Failure) -> bytes:
        kind = failure.type or wire.error_type(failure.status)
        return wire.error_body(failure.message, type_=kind, param=failure.param, code=failure.code)

    def not_found(self, model: str) -> Failure:
        msg = f"The model `{model}` does not exist or you do not have access to it."
        return Failure(404, msg, param="model", code="model_not_found")

    def rate_limited(self, refusal: Refusal) -> Failure:
        msg = f"Rate limit reached on {refusal.kind} per min: Limit {refusal.limit}."
        return Failure(429, msg, type=refusal.kind, code="rate_limit_exceeded")

    def simulated(self, status: int) -> Failure:
        return Failure(status, f"Simulated error {status}.")

    def rate_headers(self, headers: dict[str, str]) -> dict[str, str]:
        return headers

    def models_body(self, models: list[str], owner: str) -> bytes:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": owner} for m in models]
        return orjson.dumps({"object": "list", "data": data})


OPENAI = OpenAIDialect()
