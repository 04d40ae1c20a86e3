"""N requests through the real gateway and simulator → exactly N spend_log rows, right figures."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.config.runtime import Config
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from gateway.ledger.schema import SchemaOutdated
from gateway.settings import Settings
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

SPECS = {
    "a": VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=6),
    "b": VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=9),
}
PRICES = {"a": (1.0, 2.0), "b": (3.0, 4.0)}
MSG = [{"role": "user", "content": "count my tokens please"}]


async def test_n_requests_make_n_rows(fleet: FleetFactory, ledger_url: str) -> None:
    n = 60
    async with (
        fleet(SPECS, PRICES, database_url=ledger_url, ledger_migrate=True) as f,
        httpx.AsyncClient(base_url=f.url, timeout=10) as http,
    ):

        async def one(i: int) -> httpx.Response:
            model = ["m", "a/m", "b/m", "nope"][i % 4]
            body = {"model": model, "messages": MSG, "stream": i % 3 == 0}
            return await http.post("/v1/chat/completions", json=body)

        replies = await asyncio.gather(*(one(i) for i in range(n)))
        served = {
            v: (s.stats.prompt_tokens, s.stats.completion_tokens) for v, s in f.vendors.items()
        }
    # The fleet has stopped: its lifespan flushed the writer.
    engine = create_engine(parse_database_url(ledger_url))
    async with engine.connect() as conn:
        rows = {r.request_id: r for r in await conn.execute(select(spend_log))}
    await engine.dispose()
    assert len(rows) == n
    assert set(rows) == {r.headers["x-request-id"] for r in replies}
    for reply in replies:
        row = rows[reply.headers["x-request-id"]]
        assert row.status_code == reply.status_code
        if reply.status_code != 200:
            assert (row.provider, row.cost_usd) == (None, None)
            continue
        price_in, price_out = PRICES[row.provider]
        cost = (
            row.prompt_tokens * Decimal(str(price_in))
            + row.completion_tokens * Decimal(str(price_out))
        ) / 10**6
        assert row.cost_usd == cost
        assert row.deployment == reply.headers["x-gateway-deployment"]
    for vendor, (prompt, completion) in served.items():
        mine = [r for r in rows.values() if r.provider == vendor]
        assert sum(r.prompt_tokens for r in mine) == prompt
        assert sum(r.completion_tokens for r in mine) == completion


async def test_an_outdated_schema_refuses_to_start(ledger_url: str) -> None:
    settings = Settings(database_url=ledger_url, ledger_migrate=False)
    app = create_app(settings, config=Config({}, {}, {}, "empty"), env={})
    with pytest.raises(SchemaOutdated, match="gateway migrate"):
        async with app.router.lifespan_context(app):
            pass
