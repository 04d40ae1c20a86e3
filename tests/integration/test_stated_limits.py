"""A limit declared too high: the vendor's own x-ratelimit-limit-requests is held, no 429s."""

from __future__ import annotations

import asyncio

import httpx

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

MSG = [{"role": "user", "content": "hi"}]
BODY = {"model": "chat", "messages": MSG}
# A TTFT target no reply of this test misses: the test is about the limit, and the burst's
# latencies (39 requests through one event loop with the simulator, on a busy CI host) must not
# move traffic by themselves.
ROUTE = "routes:\n  chat:\n    targets: [cheap/m, dear/m]\n    slo: {ttft_ms: 60000}\n"
FAST = VendorSpec(models=["m"], ttft_ms=20, tokens_per_s=5000, output_tokens=4)


async def test_a_limit_declared_too_high_is_held_at_the_vendors_own(fleet: FleetFactory) -> None:
    cheap = FAST.model_copy(update={"rpm": 20})  # enforces 20 a minute, declared as 40
    async with (
        fleet(
            {"cheap": cheap, "dear": FAST},
            {"cheap": (0.1, 0.1), "dear": (1.0, 1.0)},
            policies=ROUTE,
            limits={"cheap": {"rpm": 40}},
            explore_rate=0.0,
        ) as f,
        httpx.AsyncClient(base_url=f.url, timeout=30) as http,
    ):
        first = await http.post("/v1/chat/completions", json=BODY)  # its headers state 20
        assert first.headers["x-gateway-provider"] == "cheap"
        # Then a burst: the headers' remaining count lags the requests in flight, and the
        # declared 40 would let twice the vendor's limit through.
        replies = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=BODY) for _ in range(39))
        )
        assert all(r.status_code == 200 for r in replies)
        served = [r.headers["x-gateway-provider"] for r in [first, *replies]]
        assert f.vendors["cheap"].stats.by_status.get(429, 0) == 0
        assert served.count("cheap") == 20  # its whole minute (no margin below 50), no more
