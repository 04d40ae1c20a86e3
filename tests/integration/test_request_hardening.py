"""A request that would hurt others, end to end (issue 12): a client that leaves before a
non-streamed answer, hints that rule out every target, a model name Postgres cannot store."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from sqlalchemy import select

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory, postgres_schema
from tests.integration.test_spend_records import ListLedger

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]


async def test_a_client_leaving_before_a_non_streamed_answer_cancels_upstream(
    fleet: FleetFactory,
) -> None:
    slow = VendorSpec(models=["m"], ttft_ms=3000, tokens_per_s=5000, output_tokens=4)
    ledger = ListLedger()
    async with fleet({"a": slow}, {"a": (1.0, 1.0)}, ledger=ledger) as f:
        async with httpx.AsyncClient(base_url=f.url, timeout=0.3) as http:
            with contextlib.suppress(httpx.TimeoutException):  # the client gives up, leaves
                await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        for _ in range(60):  # the vendor sees its connection go well before its 3 s answer
            if f.vendors["a"].stats.disconnects and ledger.records:
                break
            await asyncio.sleep(0.05)
        assert f.vendors["a"].stats.disconnects == 1
        async with httpx.AsyncClient(base_url=f.url) as http:
            for _ in range(40):  # the snapshot /admin reads is refreshed every 250 ms
                rows = (await http.get("/admin/providers")).json()["deployments"]
                if rows[0]["in_flight"] == 0:
                    break
                await asyncio.sleep(0.05)
        assert rows[0]["in_flight"] == 0  # its slot was released
    (row,) = ledger.records
    assert (row.status_code, row.error_type, row.cost_usd) == (499, "client_cancelled", None)


async def test_hints_that_rule_out_every_target_are_a_400_naming_the_hint(
    fleet: FleetFactory,
) -> None:
    async with (
        fleet({"a": FAST, "b": FAST}, {"a": (1.0, 1.0), "b": (1.0, 1.0)}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = {"model": "m", "messages": MSG, "gateway": {"only": ["nobody"]}}
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "gateway.only"
        assert "a/m: not in the request's gateway.only" in r.json()["error"]["message"]


async def test_a_model_name_with_nul_lands_in_postgres(fleet: FleetFactory) -> None:
    async with postgres_schema() as url:
        async with (
            fleet({"a": FAST}, {"a": (1.0, 1.0)}, database_url=url, ledger_migrate=True) as f,
            httpx.AsyncClient(base_url=f.url) as http,
        ):
            r = await http.post("/v1/chat/completions", json={"model": "m\x00x", "messages": MSG})
            assert r.status_code == 404
            ok = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
            assert ok.status_code == 200
        engine = create_engine(parse_database_url(url))
        async with engine.connect() as conn:
            rows = {r.requested_model: r for r in await conn.execute(select(spend_log))}
        await engine.dispose()
    assert set(rows) == {"m\ufffdx", "m"}  # both rows, none sent to the rejected spool
    assert rows["m\ufffdx"].status_code == 404
