"""One served request as the ledger recorded it, and the latency it showed. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.config.policies import Slo
from gateway.core.usage import Usage


@dataclass(frozen=True, slots=True)
class Recorded:
    """A spend_log row that reached a deployment, in the shape the replay reads."""

    at: float  # when the request arrived, epoch seconds
    model: str  # the model name the client sent: the route it is replayed on
    team: str | None
    endpoint: str
    stream: bool
    deployment: str
    usage: Usage
    cost_usd: Decimal | None
    ttft_ms: float | None  # streams only
    latency_ms: float
    capabilities: frozenset[str] = frozenset()  # what it needed (tools, vision, json_mode)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one request on one deployment took."""

    latency_ms: float
    ttft_ms: float | None  # None: a non-streamed reply (its first token is its last)
    tpot_ms: float | None  # decode time per output token, when a stream measured it


def sample_of(row: Recorded) -> Sample:
    tokens = row.usage.completion_tokens
    tpot = None
    if row.ttft_ms is not None and tokens > 1:
        tpot = max(row.latency_ms - row.ttft_ms, 0.0) / (tokens - 1)
    return Sample(row.latency_ms, row.ttft_ms, tpot)


def resized(sample: Sample, tokens: int) -> Sample:
    """The same deployment's speed, for a reply of `tokens` output tokens."""
    if sample.ttft_ms is None or sample.tpot_ms is None:
        return sample  # no split of the total known: taken as it is
    latency = sample.ttft_ms + sample.tpot_ms * max(tokens - 1, 0)
    return Sample(latency, sample.ttft_ms, sample.tpot_ms)


def met(sample: Sample, slo: Slo, tokens: int) -> bool:
    """Did the request meet the route's targets? A stream: its TTFT and its time per token. A
    whole reply: it arrived by the time a stream meeting both would have ended."""
    if sample.ttft_ms is not None:
        return sample.ttft_ms <= slo.ttft_ms and (
            sample.tpot_ms is None or sample.tpot_ms <= slo.tpot_ms
        )
    return sample.latency_ms <= slo.ttft_ms + slo.tpot_ms * max(tokens - 1, 0)
