"""Hedging and per-route timeouts: a late first token is raced; a hanging upstream is cut."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory
from tests.integration.test_spend_records import ListLedger

SLOW = VendorSpec(models=["m"], ttft_ms=3000, tokens_per_s=5000, output_tokens=4)
QUICK = VendorSpec(models=["m"], ttft_ms=5, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]
PRICES = {"slow": (0.1, 0.1), "quick": (1.0, 1.0)}  # the slow one is cheaper: tried first
HEDGED = """\
routes:
  chat:
    targets: [slow/m, quick/m]
    strategy: cheapest
    hedge_after_ms: 150
"""


@pytest.mark.parametrize("stream", [False, True])
async def test_late_first_token_is_hedged_and_the_loser_cancelled(
    fleet: FleetFactory, stream: bool
) -> None:
    ledger = ListLedger()
    async with (
        fleet(
            {"slow": SLOW, "quick": QUICK}, PRICES, policies=HEDGED, ledger=ledger, explore_rate=0.0
        ) as f,
        httpx.AsyncClient(base_url=f.url, timeout=10) as http,
    ):
        body = {"model": "chat", "messages": MSG, "stream": stream}
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 200
        assert r.headers["x-gateway-provider"] == "quick"  # the runner-up answered first
        assert r.headers["x-gateway-attempts"] == "1"
        assert r.headers["x-gateway-hedged-with"] == "slow/m"
        if stream:
            assert r.text.endswith("data: [DONE]\n\n")
        for _ in range(100):  # the slow one's request was cancelled, not left running
            if f.vendors["slow"].stats.disconnects:
                break
            await asyncio.sleep(0.05)
        assert f.vendors["slow"].stats.requests == 1
        assert f.vendors["slow"].stats.disconnects == 1
    (row,) = ledger.records
    assert row.deployment == "quick/m"
    assert row.tags == {"hedged_with": "slow/m"}  # the cost of hedging stays visible


async def test_route_read_timeout_cuts_a_hanging_upstream_and_fails_over(
    fleet: FleetFactory,
) -> None:
    policy = (
        "routes:\n  chat:\n    targets: [slow/m, quick/m]\n    strategy: ordered\n"
        "    timeouts: {read_ms: 200}\n"
    )
    async with (
        fleet({"slow": SLOW, "quick": QUICK}, PRICES, policies=policy) as f,
        httpx.AsyncClient(base_url=f.url, timeout=10) as http,
    ):
        r = await http.post("/v1/chat/completions", json={"model": "chat", "messages": MSG})
        assert r.status_code == 200
        assert r.headers["x-gateway-provider"] == "quick"
        assert r.headers["x-gateway-attempts"] == "2"


async def test_first_token_timeout_fails_over_and_total_timeout_ends_a_long_stream(
    fleet: FleetFactory,
) -> None:
    long_stream = VendorSpec(models=["m"], ttft_ms=5, tokens_per_s=20, output_tokens=200)  # ~10 s
    policy = (
        "routes:\n"
        "  first:\n    targets: [slow/m, quick/m]\n    strategy: ordered\n"
        "    timeouts: {first_token_ms: 200}\n"
        "  total:\n    targets: [long/m]\n    timeouts: {total_ms: 400}\n"
    )
    async with (
        fleet(
            {"slow": SLOW, "quick": QUICK, "long": long_stream},
            {**PRICES, "long": (1.0, 1.0)},
            policies=policy,
        ) as f,
        httpx.AsyncClient(base_url=f.url, timeout=10) as http,
    ):
        r = await http.post(
            "/v1/chat/completions", json={"model": "first", "messages": MSG, "stream": True}
        )
        assert r.status_code == 200
        assert (r.headers["x-gateway-provider"], r.headers["x-gateway-attempts"]) == ("quick", "2")
        r = await http.post(
            "/v1/chat/completions", json={"model": "total", "messages": MSG, "stream": True}
        )
        assert r.status_code == 200
        assert '"code":"stream_timeout"' in r.text
        assert "data: [DONE]" not in r.text  # an honest end, not a clean one
        assert f.vendors["long"].stats.requests == 1


async def test_resume_continues_a_broken_stream_on_the_next_candidate(fleet: FleetFactory) -> None:
    cut = QUICK.model_copy(update={"output_tokens": 8, "fault": "cut", "fault_after_chunks": 3})
    whole = QUICK.model_copy(update={"output_tokens": 8})
    policy = "routes:\n  chat:\n    targets: [a/m, b/m]\n    strategy: ordered\n    resume: true\n"
    ledger = ListLedger()
    async with (
        fleet(
            {"a": cut, "b": whole},
            {"a": (1.0, 1.0), "b": (2.0, 2.0)},
            policies=policy,
            ledger=ledger,
        ) as f,
        httpx.AsyncClient(base_url=f.url, timeout=10) as http,
    ):
        body = {"model": "chat", "messages": MSG, "stream": True}
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.headers["x-gateway-provider"] == "a"
        assert '"error"' not in r.text  # one uninterrupted stream for the client
        assert r.text.endswith("data: [DONE]\n\n")
        assert f.vendors["b"].stats.requests == 1  # the continuation
        for _ in range(40):
            if ledger.records:
                break
            await asyncio.sleep(0.05)
        plain = await http.post("/v1/chat/completions", json={**body, "model": "a/m"})
        assert '"type":"upstream_error"' in plain.text  # without resume: reported
    row = next(rec for rec in ledger.records if rec.requested_model == "chat")
    assert row.deployment == "b/m" and row.tags == {"resumed_from": "a/m"}
    assert row.error_type is None and row.cost_usd is not None
