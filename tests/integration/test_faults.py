"""Fault injection (issue 6, item 7): three simulated vendors, the best one failing in each way.

The promise under test: while any vendor is healthy, non-streamed requests and streams that had
not started yet succeed (client errors = 0); traffic moves off the failing vendor; a stream that
breaks after its first byte reached the client ends with an OpenAI-style error event, never with
a clean `[DONE]`. The machine is shared and noisy: no timing is asserted as a speed claim, only
generous bounds that prove nothing hung. Rankings are made known by prices (`cheapest`, no
exploration), so latency noise does not decide who is "best".
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson

from gateway.sim import SimVendor, VendorSpec
from tests.conftest import Fleet, FleetFactory
from tests.integration.test_spend_records import ListLedger

OUTPUT = 8
VENDOR = VendorSpec(models=["m"], ttft_ms=5, tokens_per_s=2000, output_tokens=OUTPUT)
SPECS = {name: VENDOR.model_copy(update={"seed": i}) for i, name in enumerate("abc")}
PRICES = {"a": (1.0, 1.0), "b": (2.0, 2.0), "c": (4.0, 4.0)}  # a is best, then b, then c
MSG = [{"role": "user", "content": "Say something short."}]
CHEAPEST: dict[str, Any] = {
    "model": "m",
    "messages": MSG,
    "max_tokens": OUTPUT,
    "gateway": {"sort": "cheapest"},
}
HUNG_S = 20.0  # a request taking longer than this hung (no speed claim: only "it ended")
CIRCUIT_K = 5  # consecutive failures that open a circuit (gateway/core/circuit.py)
# Attempts the failing vendor may still see once it fails: the failures that open its circuit,
# plus slack for requests already in flight and a half-open probe.
STRAY = CIRCUIT_K + 3

Ending = Literal["done", "error", "none"]


@dataclass
class Result:
    status: int
    provider: str | None
    stream: bool
    ending: Ending = "none"  # streams: [DONE], an error event, or neither
    content_events: int = 0  # streams: events with choices, before the end
    unparseable: int = 0  # streams: events that are not JSON (no client SDK can read them)
    error: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200 and (
            not self.stream or (self.ending == "done" and not self.unparseable)
        )


@dataclass
class Tally:
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def providers(self, last: int | None = None) -> Counter[str]:
        chosen = self.results[-last:] if last else self.results
        return Counter(r.provider or "?" for r in chosen)


async def complete(http: httpx.AsyncClient, body: dict[str, Any]) -> Result:
    t0 = time.perf_counter()
    r = await http.post("/v1/chat/completions", json=body)
    result = Result(r.status_code, r.headers.get("x-gateway-provider"), stream=False)
    if r.status_code == 200:
        assert r.json()["choices"], r.text  # a 200 the client can parse
    result.seconds = time.perf_counter() - t0
    return result


async def stream(http: httpx.AsyncClient, body: dict[str, Any]) -> Result:
    """One streamed request, read to its end; what the last event said."""
    t0 = time.perf_counter()
    async with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
        result = Result(r.status_code, r.headers.get("x-gateway-provider"), stream=True)
        if r.status_code != 200:
            await r.aread()
            result.seconds = time.perf_counter() - t0
            return result
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            assert result.ending == "none", f"an event after the stream ended: {line!r}"
            payload = line[5:].strip()
            if payload == "[DONE]":
                result.ending = "done"
                continue
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                result.unparseable += 1
                continue
            if "error" in event:
                result.ending, result.error = "error", event["error"]
            elif event.get("choices"):
                result.content_events += 1
    result.seconds = time.perf_counter() - t0
    return result


async def run(
    http: httpx.AsyncClient,
    n: int,
    body: dict[str, Any] = CHEAPEST,
    *,
    streams: Literal["none", "half", "all"] = "half",
    tally: Tally | None = None,
) -> Tally:
    """`n` requests one after the other, alternating non-streamed and streamed ones."""
    tally = tally if tally is not None else Tally()
    for i in range(n):
        streamed = streams == "all" or (streams == "half" and i % 2 == 1)
        tally.results.append(await (stream(http, body) if streamed else complete(http, body)))
    return tally


def attempts(vendor: SimVendor) -> int:
    return vendor.stats.requests


@asynccontextmanager
async def warmed(
    fleet: FleetFactory, **options: Any
) -> AsyncIterator[tuple[Fleet, httpx.AsyncClient]]:
    """SPECS behind a gateway (no exploration), each vendor measured once, and a client."""
    async with (
        fleet(SPECS, PRICES, explore_rate=0.0, **options) as f,
        httpx.AsyncClient(base_url=f.url, timeout=HUNG_S) as http,
    ):
        await warm(f, http)
        yield f, http


async def warm(f: Fleet, http: httpx.AsyncClient) -> None:
    """All three healthy: the best one serves everything (the ranking is the one we think)."""
    tally = await run(http, 4)
    assert not tally.failed
    assert tally.providers() == {"a": 4}
    for vendor in f.vendors.values():
        vendor.reset_stats()


def assert_none_hung(tally: Tally) -> None:
    slowest = max(r.seconds for r in tally.results)
    assert slowest < HUNG_S, f"a request took {slowest:.1f} s"


def assert_broke_honestly(result: Result) -> None:
    """A stream that broke after its first byte: an OpenAI-style error event, no [DONE]."""
    assert result.status == 200
    assert result.content_events >= 1  # it had started: failover was no longer possible
    assert not result.unparseable, "the client got an event it cannot parse"
    assert result.ending == "error", f"ended with {result.ending!r}, not an error event"
    assert result.error is not None
    assert {"message", "type", "code"} <= set(result.error)


# -- the best vendor goes down, slows down, rate-limits, errors ---------------------------


async def test_best_vendor_goes_down_mid_run(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        tally = Tally()

        async def client(n: int) -> None:
            await run(http, n, tally=tally)

        # Four clients at once; the best vendor goes down while they run.
        first = asyncio.gather(*(client(3) for _ in range(4)))
        await first
        rest = asyncio.gather(*(client(17) for _ in range(4)))
        await asyncio.sleep(0)  # the clients are on their way
        f.vendors["a"].set_behaviour(error_rate=1.0, error_status=503)
        down_at = len(tally.results)
        await rest
    assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
    assert tally.providers(last=len(tally.results) - down_at - STRAY)["a"] == 0
    assert f.vendors["a"].stats.by_status.get(503, 0) <= STRAY + 4  # 4 may be in flight
    assert tally.providers()["b"] > 0 and tally.providers()["c"] == 0  # b is next best
    assert_none_hung(tally)


async def test_best_vendor_slows_to_5x(fleet: FleetFactory) -> None:
    # The balanced default: a is cheapest; when its TTFT goes from 200 ms to 1 s (5x), it misses
    # the route's 1 s TTFT target about half the time, which costs far more than the price gap.
    base = VendorSpec(models=["m"], ttft_ms=200, tokens_per_s=2000, output_tokens=OUTPUT)
    specs = {n: base.model_copy(update={"seed": i}) for i, n in enumerate("abc")}
    body = {"model": "m", "messages": MSG, "max_tokens": OUTPUT}
    async with (
        fleet(specs, PRICES, explore_rate=0.0) as f,
        httpx.AsyncClient(base_url=f.url, timeout=HUNG_S) as http,
    ):
        before = await run(http, 4, body)
        assert not before.failed and before.providers() == {"a": 4}
        f.vendors["a"].set_behaviour(ttft_ms=5 * base.ttft_ms)
        after = await run(http, 8, body)
    assert not after.failed
    assert after.providers()["a"] <= 2  # it was measured slow, then left
    assert after.providers(last=4)["a"] == 0
    assert_none_hung(after)


async def test_429_storm(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(error_rate=1.0, error_status=429)  # with Retry-After: 1
        tally = await run(http, 24)
    assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
    assert f.vendors["a"].stats.by_status.get(429, 0) <= STRAY
    assert tally.providers(last=12)["a"] == 0
    assert_none_hung(tally)


async def test_a_429_keeps_the_vendor_out_for_its_retry_after(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(error_rate=1.0, error_status=429)  # with Retry-After: 1
        tally = await run(http, 6)
    assert not tally.failed
    arrivals = list(f.vendors["a"].stats.timestamps)
    assert arrivals, "the first request went to the best vendor"
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # A noisy machine only makes gaps longer: a gap under 0.9 s is a retry it was told not to make.
    assert all(gap >= 0.9 for gap in gaps), f"{len(arrivals)} attempts within {sum(gaps):.2f} s"


async def test_500s_that_come_back_fast_do_not_make_a_vendor_look_fast(
    fleet: FleetFactory,
) -> None:
    # `fastest`: a vendor answering 500 at once must lose to the healthy ones, not attract traffic.
    body = {**CHEAPEST, "gateway": {"sort": "fastest"}}
    async with (
        fleet(SPECS, PRICES, explore_rate=0.0) as f,
        httpx.AsyncClient(base_url=f.url, timeout=HUNG_S) as http,
    ):
        f.vendors["a"].set_behaviour(error_rate=1.0, error_status=500)
        tally = await run(http, 24, body)
    assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
    assert tally.providers()["a"] == 0
    assert f.vendors["a"].stats.by_status.get(500, 0) <= STRAY
    assert_none_hung(tally)


# -- broken replies and connections before anything reached the client ---------------------


async def test_malformed_json_reply_fails_over(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(fault="malformed")  # a 200 whose body is not JSON
        tally = await run(http, 16, streams="none")
    assert not tally.failed
    assert tally.providers()["a"] == 0
    assert f.vendors["a"].stats.faults <= STRAY


async def test_malformed_first_stream_event_fails_over(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(fault="malformed", fault_after_chunks=0)
        tally = await run(http, 12, streams="all")
    assert not tally.failed, [(r.provider, r.unparseable, r.ending) for r in tally.failed]
    assert tally.providers()["a"] == 0


async def test_connection_reset_fails_over(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(fault="reset")
        tally = await run(http, 20)
    assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
    assert tally.providers()["a"] == 0
    assert f.vendors["a"].stats.resets <= STRAY
    assert_none_hung(tally)


async def test_hanging_upstream_times_out_and_fails_over(fleet: FleetFactory) -> None:
    async with warmed(fleet, read_timeout_s=0.5) as (f, http):
        f.vendors["a"].set_behaviour(fault="hang")  # accepts, then never answers
        tally = await run(http, 12)
        f.vendors["a"].set_behaviour(fault="none")  # let the held requests go
    assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
    assert tally.providers()["a"] == 0
    assert f.vendors["a"].stats.faults <= STRAY
    assert_none_hung(tally)


async def test_stream_cut_or_stalled_before_its_first_event_fails_over(
    fleet: FleetFactory,
) -> None:
    async with warmed(fleet, read_timeout_s=0.5) as (f, http):
        a = f.vendors["a"]
        a.set_behaviour(fault="cut", fault_after_chunks=0)  # headers, then the connection closes
        cut = await run(http, 8)  # non-streamed replies are cut half way through the body
        for vendor in f.vendors.values():
            vendor.reset_stats()
        a.set_behaviour(fault="stall", fault_after_chunks=0)  # headers, then silence
        stalled = await run(http, 8)  # non-streamed replies stall half way through the body
        a.set_behaviour(fault="none")
    for tally in (cut, stalled):
        assert not tally.failed, [(r.status, r.ending) for r in tally.failed]
        assert tally.providers()["a"] == 0
        assert_none_hung(tally)


# -- streams that break after their first byte reached the client --------------------------


async def test_stream_cut_after_n_chunks_ends_with_an_error_event(fleet: FleetFactory) -> None:
    ledger = ListLedger()
    async with warmed(fleet, ledger=ledger) as (f, http):
        ledger.records.clear()
        f.vendors["a"].set_behaviour(fault="cut", fault_after_chunks=3)
        tally = await run(http, 16, streams="all")
        for _ in range(100):  # the ledger is written after the response: wait for the rows
            if len(ledger.records) >= len(tally.results):
                break
            await asyncio.sleep(0.02)
    broken = [r for r in tally.results if r.provider == "a"]
    assert broken, "the first streams went to the best vendor and broke"
    for result in broken:
        assert_broke_honestly(result)
    assert all(r.ok for r in tally.results if r.provider != "a")
    assert len(broken) <= STRAY and tally.providers(last=6)["a"] == 0  # traffic moved off
    partial = [row for row in ledger.records if row.provider == "a"]
    assert len(partial) == len(broken)
    for row in partial:
        assert row.error_type is not None  # recorded as partial, not as a success
        assert 0 < row.completion_tokens < OUTPUT  # with the tokens delivered
    assert_none_hung(tally)


async def test_stream_stalling_after_n_chunks_ends_with_an_error_event(fleet: FleetFactory) -> None:
    async with warmed(fleet, read_timeout_s=0.5) as (f, http):
        f.vendors["a"].set_behaviour(fault="stall", fault_after_chunks=3)
        tally = await run(http, 12, streams="all")
        f.vendors["a"].set_behaviour(fault="none")
    broken = [r for r in tally.results if r.provider == "a"]
    assert broken
    for result in broken:
        assert_broke_honestly(result)
    assert all(r.ok for r in tally.results if r.provider != "a")
    assert len(broken) <= STRAY and tally.providers(last=4)["a"] == 0
    assert_none_hung(tally)


async def test_malformed_chunk_mid_stream_ends_with_an_error_event(fleet: FleetFactory) -> None:
    async with warmed(fleet) as (f, http):
        f.vendors["a"].set_behaviour(fault="malformed", fault_after_chunks=2)
        result = await stream(http, CHEAPEST)
    assert result.provider == "a"
    assert (result.unparseable, result.ending) == (0, "error"), result


# -- the client leaves ----------------------------------------------------------------------
# (test_failover.py checks that the upstream is cancelled and billed; here: the vendor is not
# blamed for it.)


async def test_clients_leaving_mid_stream_do_not_count_against_the_vendor(
    fleet: FleetFactory,
) -> None:
    slow = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=50, output_tokens=200)  # ~4 s each
    specs = {n: slow.model_copy(update={"seed": i}) for i, n in enumerate("abc")}
    async with (
        fleet(specs, PRICES, explore_rate=0.0) as f,
        httpx.AsyncClient(base_url=f.url, timeout=HUNG_S) as http,
    ):
        left: list[str] = []
        for _ in range(CIRCUIT_K + 1):
            body = {**CHEAPEST, "stream": True, "max_tokens": 200}
            async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                left.append(r.headers["x-gateway-provider"])
                async for _ in r.aiter_bytes():
                    break  # read the first event, then leave
            disconnects = sum(v.stats.disconnects for v in f.vendors.values())
            for _ in range(200):  # the vendor sees the connection go (it stops generating)
                if disconnects == len(left):
                    break
                await asyncio.sleep(0.02)
                disconnects = sum(v.stats.disconnects for v in f.vendors.values())
            assert disconnects == len(left)
        after = await run(http, 2, {**CHEAPEST, "max_tokens": 2}, streams="none")
    assert not after.failed
    # Still the best: nothing went wrong on its side.
    assert left + [r.provider or "?" for r in after.results] == ["a"] * (CIRCUIT_K + 3)
