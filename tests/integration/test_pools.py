"""A simulated 2-replica pool with two spill vendors under a load ladder (issue 7's shape).

Shapes with generous margins, never speed claims: the pool takes everything at low load,
the excess goes to the vendor that meets the TTFT target, no replica passes its safety limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from bench import pools
from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.sim import SimVendor, run_sim
from tests.factories import gateway_settings

pytestmark = pytest.mark.usefixtures("steady_gc")  # latencies are asserted

LADDER = [0.1, 0.5, 2.0, 3.0]


async def test_pool_fills_first_then_spills_to_the_vendor_that_meets_the_target(
    tmp_path: Path,
) -> None:
    result = await pools.run_setup("ours", LADDER, 1.5, tmp_path)
    assert all(s.ok for s in result.samples)
    low = pools.summary(result, [0, 1])
    high = pools.summary(result, [2, 3])
    assert low["pool_share"] >= 0.95  # ~100 % while the pool meets the target
    assert high["pool_share"] < low["pool_share"] - 0.2  # spill grows after saturation
    assert high["pool_share"] > 0.2  # ... while the pool stays in use
    assert high["cheap_share"] <= 0.05  # spill goes to the vendor that meets the target
    assert result.max_in_flight <= pools.MAX_BATCH + pools.MAX_QUEUE  # the safety limit
    overall = pools.summary(result)
    assert overall["p95"] <= pools.TTFT_TARGET_MS * 1.5  # within the target, with a margin


BODY = {"model": f"pool/{pools.MODEL}", "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def pool_gateway(
    tmp_path: Path, *, affinity: bool
) -> AsyncIterator[tuple[dict[str, SimVendor], httpx.AsyncClient]]:
    """The simulated pool and vendors of bench/pools.py behind a gateway on loopback."""
    async with run_sim(pools.sim_config()) as vendors:
        (tmp_path / "policies").mkdir()
        (tmp_path / "providers.yaml").write_text(pools.providers_yaml(vendors, affinity=affinity))
        settings = gateway_settings(tmp_path)
        async with (
            serve_in_loop(create_app(settings, env={})) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            yield vendors, http


async def test_admin_reports_the_pool_and_its_effective_price(tmp_path: Path) -> None:
    async with pool_gateway(tmp_path, affinity=True) as (_, http):
        r = await http.post("/v1/chat/completions", json=BODY)
        assert r.status_code == 200 and r.headers["x-gateway-provider"] == "pool"
        rows = {d["id"]: d for d in (await http.get("/admin/providers")).json()["deployments"]}
    pool = rows[f"pool/{pools.MODEL}"]["pool"]
    assert pool["billing"] == "reserved"
    assert pool["effective_usd_per_mtok"] > 0
    assert [r["healthy"] for r in pool["replicas"]] == [True, True]
    assert all(r["metrics_age_s"] is not None for r in pool["replicas"])
    assert rows[f"pool/{pools.MODEL}"]["price_per_mtok"] == {"input": 0.0, "output": 0.0}


async def test_a_dead_replica_is_retried_on_its_sibling_inside_the_pool(tmp_path: Path) -> None:
    async with pool_gateway(tmp_path, affinity=False) as (vendors, http):
        # Pinned to the pool (one attempt, no failover to a vendor): the pool must cope.
        assert (await http.post("/v1/chat/completions", json=BODY)).status_code == 200
        await asyncio.sleep(0.5)  # both replicas scraped: idle and healthy
        await vendors["pool-0"].stop()  # dies; its metrics still look fresh for ~2 s
        for stream in (False, True, False, True, False, True):
            r = await http.post("/v1/chat/completions", json={**BODY, "stream": stream})
            assert r.status_code == 200, r.text
            assert r.headers["x-gateway-provider"] == "pool"
