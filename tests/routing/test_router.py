"""The router end to end over scripted fake upstreams: failover order, quota denials, request
faults, the deadline, backoff, hedging, resume, and every reservation released afterwards.

Deterministic: strategy `ordered` (candidates tried in target order), no exploration, a seeded
rng, a fixed clock, and a sleep that records the pauses instead of waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from gateway.api.body import Meta
from gateway.api.chat_request import parse_chat
from gateway.config.policies import Strategy
from gateway.config.runtime import Config, Deployment, Route, ScopeLimit
from gateway.core.estimators import Estimate
from gateway.errors import (
    RateLimited,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
)
from gateway.routing.relay import CONTINUE_PROMPT
from gateway.routing.request import GatewayRequest, Served
from gateway.routing.router import Router
from gateway.routing.run import Timing
from gateway.state.memory_store import MemoryStore
from gateway.state.quota import Grant
from tests.factories import deployment
from tests.routing.fakes import DONE, FakeLedger, Fakes, Pauses, Slow, Step, Stream, delta, reply

NOW = 1_700_000_000.0
MESSAGES = [{"role": "user", "content": "Say hello"}]


def dep(provider: str, max_concurrency: int = 8) -> Deployment:
    # The model scope carries the in-flight count the store reports (and /admin/providers shows).
    limits = (ScopeLimit("p"), ScopeLimit("m:m", max_concurrency=max_concurrency))
    return deployment(provider, "m", limits=limits)


A, B, C = dep("a"), dep("b"), dep("c")


def unavailable(provider: str) -> UpstreamStatusError:
    return UpstreamStatusError(f"{provider}: 503 overloaded", upstream_status=503)


@dataclass
class Rig:
    router: Router
    store: MemoryStore
    fakes: Fakes
    ledger: FakeLedger
    pauses: Pauses
    targets: tuple[Deployment, ...]

    async def in_flight(self) -> dict[str, int]:
        """In-flight per deployment as /admin/providers reads it, once background work is done."""
        await self.router.drain()
        self.store.track(self.targets)
        await self.store.refresh()
        snapshot = self.store.snapshot()
        return {d.id: snapshot.get(d.id, Estimate()).in_flight for d in self.targets}

    @property
    def idle(self) -> dict[str, int]:
        return {d.id: 0 for d in self.targets}


def rig(
    scripts: Mapping[str, Iterable[Step]],
    targets: tuple[Deployment, ...] = (A, B, C),
    **route: Any,
) -> Rig:
    chat = Route("chat", targets, strategy=Strategy.ORDERED, **route)
    config = Config({d.id: d for d in targets}, {"chat": chat}, {}, "test")
    store, fakes, ledger, pauses = MemoryStore(), Fakes(scripts), FakeLedger(), Pauses()
    timing = Timing(rng=random.Random(7), clock=lambda: NOW, sleep=pauses)
    router = Router(config, fakes.upstreams, store, ledger=ledger, explore_rate=0.0, timing=timing)
    return Rig(router, store, fakes, ledger, pauses, targets)


def request(*, stream: bool = False) -> GatewayRequest:
    body: dict[str, Any] = {"model": "chat", "messages": MESSAGES, "max_tokens": 16}
    if stream:
        body["stream"] = True
    return parse_chat(orjson.dumps(body), Meta("req-1", time.perf_counter()))


async def test_failover_walks_the_candidates_in_order() -> None:
    t = rig({"a": [unavailable("a")], "b": [UpstreamConnectError("refused")], "c": [reply("hi")]})
    req = request()
    served = await t.router.handle(req)
    assert t.fakes.called == ["a/m", "b/m", "c/m"]
    assert [seen.body for seen in t.fakes.calls] == [req.body] * 3
    assert served.deployment.id == "c/m"
    assert served.attempts == 3
    assert served.reply == reply("hi")
    assert t.pauses.seen == []  # a different deployment each time: no pause
    [record] = t.ledger.records
    assert (record.status_code, record.attempts, record.deployment) == (200, 3, "c/m")
    assert await t.in_flight() == t.idle


async def test_a_full_deployment_is_skipped_and_not_an_attempt() -> None:
    full = dep("a", max_concurrency=1)
    t = rig({"a": [], "b": [reply("from b")]}, targets=(full, B))
    held = await t.store.reserve(full, 10)  # another request holds a's only slot
    assert isinstance(held, Grant)
    served = await t.router.handle(request())
    assert t.fakes.called == ["b/m"]
    assert served.deployment.id == "b/m"
    assert served.attempts == 1
    [record] = t.ledger.records
    assert (record.status_code, record.attempts, record.deployment) == (200, 1, "b/m")
    assert await t.in_flight() == {"a/m": 1, "b/m": 0}  # only the slot held above


async def test_every_deployment_full_is_rate_limited_with_retry_after() -> None:
    full_a, full_b = dep("a", max_concurrency=1), dep("b", max_concurrency=1)
    t = rig({"a": [], "b": []}, targets=(full_a, full_b))
    await t.store.reserve(full_a, 10)
    await t.store.reserve(full_b, 10)
    with pytest.raises(RateLimited) as info:
        await t.router.handle(request())
    assert t.fakes.called == []
    assert info.value.status_code == 429
    assert info.value.headers() == {"retry-after": "1"}
    assert info.value.attempts == 0
    [record] = t.ledger.records
    assert (record.status_code, record.attempts, record.error_type) == (
        429,
        0,
        "rate_limit_exceeded",
    )
    assert await t.in_flight() == {"a/m": 1, "b/m": 1}  # the two held above, nothing more


async def test_a_request_fault_goes_to_the_client_at_once() -> None:
    bad = UpstreamStatusError("a: 400 bad tool schema", upstream_status=400, upstream_body=b"{}")
    t = rig({"a": [bad], "b": [reply("never")]})
    with pytest.raises(UpstreamStatusError) as info:
        await t.router.handle(request())
    assert info.value is bad
    assert info.value.status_code == 400
    assert info.value.attempts == 1
    assert t.fakes.called == ["a/m"]
    [record] = t.ledger.records
    assert (record.status_code, record.attempts) == (400, 1)
    assert await t.in_flight() == t.idle


async def test_no_new_attempt_after_the_deadline() -> None:
    # a fails at once (inside the deadline); b fails after it; c is never tried.
    t = rig(
        {"a": [unavailable("a")], "b": [Slow(0.4, unavailable("b"))], "c": [reply("late")]},
        deadline_s=0.2,
    )
    with pytest.raises(UpstreamError) as info:
        await t.router.handle(request())
    assert type(info.value) is UpstreamError
    assert info.value.status_code == 502
    assert info.value.attempts == 2
    assert t.fakes.called == ["a/m", "b/m"]
    assert await t.in_flight() == t.idle


async def test_a_lone_candidate_is_retried_after_doubling_pauses() -> None:
    t = rig({"a": [unavailable("a"), unavailable("a"), reply("third time")]}, targets=(A,))
    served = await t.router.handle(request())
    assert t.fakes.called == ["a/m", "a/m", "a/m"]
    assert served.attempts == 3
    assert served.deployment.id == "a/m"
    assert t.pauses.seen == [0.1, 0.2]
    assert await t.in_flight() == t.idle


async def test_a_lone_candidate_waits_its_retry_after() -> None:
    limited = UpstreamStatusError("a: 429", upstream_status=429, retry_after_s=2.0)
    t = rig({"a": [limited, reply("ok")]}, targets=(A,))
    served = await t.router.handle(request())
    assert t.fakes.called == ["a/m", "a/m"]
    assert served.attempts == 2
    assert t.pauses.seen == [2.0]
    assert await t.in_flight() == t.idle


async def test_a_lone_candidate_stops_at_max_attempts() -> None:
    t = rig({"a": [unavailable("a")] * 3}, targets=(A,), max_attempts=3)
    with pytest.raises(UpstreamError) as info:
        await t.router.handle(request())
    assert info.value.attempts == 3
    assert t.fakes.called == ["a/m", "a/m", "a/m"]
    assert t.pauses.seen == [0.1, 0.2]  # no pause after the last
    assert await t.in_flight() == t.idle


async def test_hedge_won_by_the_runner_up_cancels_the_leader() -> None:
    t = rig({"a": [Slow(30.0, reply("too late"))], "b": [reply("fast")]}, hedge_after_ms=20)
    served = await t.router.handle(request())
    assert t.fakes.called == ["a/m", "b/m"]
    assert t.fakes.cancelled == ["a/m"]
    assert served.deployment.id == "b/m"
    assert served.hedged_with == "a/m"
    assert served.attempts == 1
    [record] = t.ledger.records
    assert (record.deployment, record.tags) == ("b/m", {"hedged_with": "a/m"})
    assert await t.in_flight() == t.idle


async def test_no_hedge_when_the_leader_answers_in_time() -> None:
    t = rig({"a": [reply("first")], "b": []}, hedge_after_ms=10_000)
    served = await t.router.handle(request())
    assert t.fakes.called == ["a/m"]
    assert served.deployment.id == "a/m"
    assert served.hedged_with is None
    assert await t.in_flight() == t.idle


async def relayed(router: Router, served: Served) -> list[bytes]:
    return [chunk async for chunk in router.relay(served)]


async def test_a_broken_stream_resumes_on_the_next_candidate() -> None:
    broke = ("upstream ended the stream before [DONE]", "upstream_stream_truncated")
    t = rig(
        {"a": [Stream(("Hel", "lo"), breaks=broke)], "b": [Stream((" world",))]},
        targets=(A, B),
        resume=True,
    )
    served = await t.router.handle(request(stream=True))
    assert served.deployment.id == "a/m"
    assert await relayed(t.router, served) == [delta("Hel"), delta("lo"), delta(" world"), DONE]
    assert t.fakes.called == ["a/m", "b/m"]
    first, second = t.fakes.calls
    assert (first.resume, second.resume) == (True, False)  # a continuation is not resumed again
    assert second.body["messages"] == [
        *MESSAGES,
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    assert [s.closed for s in t.fakes.streams] == [True, True]
    [record] = t.ledger.records
    assert (record.deployment, record.error_type) == ("b/m", None)
    assert record.tags["resumed_from"] == "a/m"
    assert await t.in_flight() == t.idle


async def test_a_bug_in_an_upstream_propagates_and_frees_the_slot() -> None:
    t = rig({"a": [RuntimeError("adapter bug")], "b": [reply("never")]})
    with pytest.raises(RuntimeError, match="adapter bug"):
        await t.router.handle(request())
    assert t.fakes.called == ["a/m"]
    assert t.ledger.records == []  # not a GatewayError: no row of ours
    assert await t.in_flight() == t.idle


async def test_a_bug_during_a_hedge_stops_the_other_attempt() -> None:
    t = rig(
        {"a": [Slow(0.05, RuntimeError("adapter bug"))], "b": [Slow(30.0, Stream(("x",)))]},
        hedge_after_ms=10,
    )
    with pytest.raises(RuntimeError, match="adapter bug"):
        await t.router.handle(request(stream=True))
    assert t.fakes.called == ["a/m", "b/m"]
    assert t.fakes.cancelled == ["b/m"]
    assert await t.in_flight() == t.idle


@pytest.mark.parametrize(
    ("hedge_after_ms", "sent"),
    [(10_000, ["a/m"]), (10, ["a/m", "b/m"])],
    ids=["before-the-hedge", "after-the-hedge"],
)
async def test_a_client_gone_during_a_hedge_stops_its_attempts(
    hedge_after_ms: float, sent: list[str]
) -> None:
    t = rig(
        {"a": [Slow(30.0, Stream(("a",)))], "b": [Slow(30.0, Stream(("b",)))]},
        hedge_after_ms=hedge_after_ms,
    )
    handling = asyncio.create_task(t.router.handle(request(stream=True)))
    await t.fakes.received(len(sent))
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    assert t.fakes.called == sent
    assert sorted(t.fakes.cancelled) == sent
    assert await t.in_flight() == t.idle


async def test_a_vendors_429_takes_it_out_until_its_retry_after() -> None:
    limited = UpstreamStatusError("a: 429", upstream_status=429, retry_after_s=2.0)
    t = rig({"a": [limited, reply("a again")], "b": [reply("b"), reply("b again")]}, targets=(A, B))
    assert (await t.router.handle(request())).deployment.id == "b/m"
    # Within a's Retry-After (the clock stands still here) b goes first, a only after it.
    assert (await t.router.handle(request())).deployment.id == "b/m"
    assert t.fakes.called == ["a/m", "b/m", "b/m"]
    ranking = t.router.rank(request(), t.router.resolve(request()))
    assert [e.reason for e in ranking.excluded] == ["quota exhausted"]
