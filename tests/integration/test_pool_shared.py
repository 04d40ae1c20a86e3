"""Two `gateway serve` processes on one Redis share a pool's prefix affinity.

A prompt first sent through gateway 0 lands, through gateway 1, on the simulated replica that
has its prefix cached: the replicas' prefix-cache hits for the second pass equal those of a
third pass through gateway 0 itself.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from bench import pools
from gateway.sim import SimVendor, run_sim
from tests.contract.test_store_contract import REDIS_URL, drop_prefix
from tests.gateway_procs import gateway_processes, shared_env

PROMPTS = [f"{system} Question {i}?" for i, system in enumerate(pools.SYSTEMS[:8])]


def hits(vendors: dict[str, SimVendor]) -> int:
    return sum(vendors[f"pool-{i}"].stats.prefix_cache_hits for i in range(2))


async def send_all(http: httpx.AsyncClient, url: str) -> None:
    for prompt in PROMPTS:
        body = {"model": f"pool/{pools.MODEL}", "messages": [{"role": "user", "content": prompt}]}
        r = await http.post(f"{url}/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text


async def test_a_prefix_lands_where_it_is_cached_whichever_gateway_sends_it(
    tmp_path: Path,
) -> None:
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    async with run_sim(pools.sim_config()) as vendors:
        (tmp_path / "providers.yaml").write_text(pools.providers_yaml(vendors, affinity=True))
        (tmp_path / "policies").mkdir()
        env = shared_env(tmp_path, REDIS_URL, prefix)
        try:
            with gateway_processes(2, env, tmp_path) as urls:
                async with httpx.AsyncClient(timeout=30) as http:
                    await send_all(http, urls[0])  # caches each prefix on one replica
                    await asyncio.sleep(1.0)  # a few exchanges (every 0.2 s)
                    before = hits(vendors)
                    await send_all(http, urls[1])  # the other gateway
                    second = hits(vendors) - before
                    before = hits(vendors)
                    await send_all(http, urls[0])  # the gateway that decided: the reference
                    reference = hits(vendors) - before
                    admin = (await http.get(f"{urls[1]}/admin/providers")).json()
        finally:
            await drop_prefix(prefix)
    assert reference > 0
    assert second == reference  # every prompt found its prefix through the other gateway
    row = next(d for d in admin["deployments"] if d["id"] == f"pool/{pools.MODEL}")
    assert row["pool"]["affinity_hits"] == len(PROMPTS)
