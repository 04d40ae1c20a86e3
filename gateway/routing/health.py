"""Provider health beyond the scorer's numbers: keys a vendor refused, free circuit probes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from gateway.config.runtime import Config
from gateway.core.circuit import half_open
from gateway.errors import UpstreamStatusError
from gateway.routing.scoring import Excluded, Ranking
from gateway.state.store import Store
from gateway.upstream.base import Upstream

log = logging.getLogger("gateway.router")
CREDENTIAL_RETRY_S = 300.0  # a provider that refused our key is retried after this


class RejectedCredentials:
    """Providers that answered 401/403 to our key: out of routing for a while, said loudly."""

    def __init__(self) -> None:
        self.failures: dict[str, tuple[int, float]] = {}  # provider -> (HTTP status, since)

    def __contains__(self, provider: str) -> bool:
        return provider in self.failures

    def reject(self, provider: str, status: int, now: float) -> None:
        if provider not in self.failures:
            log.error(
                "provider %s rejected our API key (HTTP %d): taken out of routing for %.0f s; "
                "check its api_key_env",
                provider,
                status,
                CREDENTIAL_RETRY_S,
            )
        self.failures[provider] = (status, now)

    def clear(self) -> None:
        self.failures.clear()

    async def confirm(self, provider: str, upstream: Upstream) -> None:
        """Ask a free endpoint with the same key: if it is accepted after all, the refusal was
        about the request, not the key, and the provider comes back at once."""
        if provider in self.failures and await upstream.probe():
            log.warning("provider %s accepts our API key on its probe: back in routing", provider)
            del self.failures[provider]

    def filter(self, ranking: Ranking, now: float) -> Ranking:
        if not self.failures:
            return ranking
        for provider, (_, since) in list(self.failures.items()):
            if now - since > CREDENTIAL_RETRY_S:
                del self.failures[provider]  # try the key again
        out = [s for s in ranking.ranked if s.deployment.provider in self.failures]
        if not out:
            return ranking
        kept = tuple(s for s in ranking.ranked if s.deployment.provider not in self.failures)
        dropped = tuple(
            Excluded(
                s.deployment,
                f"credential rejected (HTTP {self.failures[s.deployment.provider][0]})",
            )
            for s in out
        )
        return replace(ranking, ranked=kept, excluded=ranking.excluded + dropped)


# What vendors say when the key itself is refused (OpenAI, Anthropic, Azure, Google, Cohere...).
# A 401/403 without such words (a content refusal, a model the key may not use) says nothing
# about the key.
_BAD_KEY_WORDS = (
    b"invalid_api_key",
    b"invalid api key",
    b"incorrect api key",
    b"invalid x-api-key",
    b"authentication_error",
    b"invalid subscription key",
    b"api key not valid",
    b"invalid authentication",
    b"missing api key",
    b"no api key",
)


def says_bad_key(exc: UpstreamStatusError) -> bool:
    if exc.upstream_status not in (401, 403):
        return False
    body = exc.upstream_body.lower()
    return any(word in body for word in _BAD_KEY_WORDS)


async def probe_open_circuits(
    config: Config, upstreams: Mapping[str, Upstream], store: Store, now: float
) -> None:
    """As a circuit's cool-down ends, ask a free question (GET /models) before any client
    request is risked on it: no answer keeps it open, longer."""
    snapshot = store.snapshot()
    for dep in config.deployments.values():
        est = snapshot.get(dep.id)
        upstream = upstreams.get(dep.provider)
        if est is None or upstream is None or not half_open(est.breaker, now):
            continue
        if not await upstream.probe():
            log.info("%s does not answer its health probe: circuit stays open", dep.id)
            await store.hold_open(dep.id)


def _why(status: int) -> str:
    return f"credential rejected (HTTP {status})"
