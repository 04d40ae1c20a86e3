"""Failover promises: bad keys, open circuits, and a client that leaves mid-stream."""

from __future__ import annotations

import asyncio

import httpx

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory
from tests.integration.test_spend_records import ListLedger

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]
BODY = {"model": "m", "messages": MSG, "gateway": {"sort": "cheapest"}}


async def test_a_provider_that_refuses_our_key_is_taken_out_and_shown(fleet: FleetFactory) -> None:
    locked = FAST.model_copy(update={"api_key": "only-the-right-key"})  # we send none: 401
    async with (
        fleet({"a": locked, "b": FAST}, {"a": (0.1, 0.1), "b": (1.0, 1.0)}, explore_rate=0.0) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        for _ in range(5):
            r = await http.post("/v1/chat/completions", json=BODY)
            assert r.status_code == 200 and r.headers["x-gateway-provider"] == "b"
        assert f.vendors["a"].stats.by_status == {401: 1}  # tried once, then left alone
        rows = {
            row["id"]: row for row in (await http.get("/admin/providers")).json()["deployments"]
        }
        assert rows["a/m"]["credential_rejected"] is True
        explained = (await http.post("/v1/route/explain", json=BODY)).json()
        assert explained["excluded"] == [
            {"deployment": "a/m", "reason": "credential rejected (HTTP 401)"}
        ]


async def test_when_every_circuit_is_open_the_least_bad_still_serves(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": FAST.model_copy(update={"error_rate": 1.0})}, {"a": (0.1, 0.1)}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        # Five consecutive failures open the circuit: two requests, three attempts each (the lone
        # candidate is retried), well inside the 1.6-2.4 s cool-down the check below relies on.
        for _ in range(2):
            assert (await http.post("/v1/chat/completions", json=BODY)).status_code == 502
        rows = (await http.get("/admin/providers")).json()["deployments"]
        assert rows[0]["circuit_open"] is True
        f.vendors["a"].set_behaviour(error_rate=0.0)  # it recovers while its circuit is open
        r = await http.post("/v1/chat/completions", json=BODY)
        assert r.status_code == 200  # degraded to the only candidate, not "no deployment"
        rows = (await http.get("/admin/providers")).json()["deployments"]
        assert rows[0]["circuit_open"] is False  # the success closed it


async def test_client_leaving_mid_stream_cancels_upstream_and_is_billed_for_what_ran(
    fleet: FleetFactory,
) -> None:
    slow = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=20, output_tokens=200)  # ~10 s
    ledger = ListLedger()
    async with fleet({"a": slow}, {"a": (1.0, 1.0)}, ledger=ledger) as f:
        async with (
            httpx.AsyncClient(base_url=f.url) as http,
            http.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as r,
        ):
            assert r.status_code == 200
            async for _ in r.aiter_bytes():
                break  # the client reads the first event and leaves
        for _ in range(100):  # the vendor sees the connection go within seconds, not 10 s
            if f.vendors["a"].stats.disconnects:
                break
            await asyncio.sleep(0.05)
        assert f.vendors["a"].stats.disconnects == 1
        for _ in range(40):
            if ledger.records:
                break
            await asyncio.sleep(0.05)
    (row,) = ledger.records
    assert row.error_type == "client_cancelled"
    assert 0 < row.completion_tokens < 200
    assert row.prompt_tokens > 0 and row.cost_usd is not None and row.cost_usd > 0


async def test_a_circuit_ending_its_cooldown_is_probed_for_free_first(
    fleet: FleetFactory,
) -> None:
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.1)}, health_probe_s=0.05) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        await f.vendors["a"].stop()  # gone: connections are refused
        for _ in range(2):  # 3 tries each (the only candidate): the circuit opens
            assert (await http.post("/v1/chat/completions", json=BODY)).status_code == 502

        async def circuit() -> dict[str, object]:
            row: dict[str, object] = (await http.get("/admin/providers")).json()["deployments"][0]
            return row

        assert (await circuit())["circuit_open"] is True
        await asyncio.sleep(3.0)  # past the first cool-down (2 s +/- 20 %)
        # Its GET /models went unanswered, so it stayed open without a client request spent.
        assert (await circuit())["circuit_open"] is True
