"""Two gateway processes sharing one Redis enforce one quota on a limited vendor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.sim import SimVendor, VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig
from tests.contract.test_store_contract import REDIS_URL, drop_prefix
from tests.gateway_procs import gateway_processes, shared_env

LIMIT = 10
SPEC = VendorSpec(models=["m"], ttft_ms=5, tokens_per_s=5000, output_tokens=16)


@pytest.fixture
async def vendors() -> AsyncIterator[dict[str, SimVendor]]:
    limited = SPEC.model_copy(update={"rpm": LIMIT, "tpm": 17 * LIMIT})  # the vendor's own limits
    async with run_sim(SimConfig(vendors={"limited": limited, "spare": SPEC})) as running:
        yield running


def max_in_any_minute(timestamps: list[float]) -> int:
    ts = sorted(timestamps)
    return max((sum(1 for u in ts if t <= u < t + 60) for t in ts), default=0)


@pytest.mark.parametrize("limit", [{"rpm": LIMIT}, {"tpm": 17 * LIMIT}])
async def test_burst_never_exceeds_the_vendor_limit(
    vendors: dict[str, SimVendor], tmp_path: Path, limit: dict[str, int]
) -> None:
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    providers = tmp_path / "providers.yaml"
    prices = {"limited": SimPrice(0.1, 0.1), "spare": SimPrice(1.0, 1.0)}  # limited is cheaper
    providers.write_text(providers_yaml(vendors, prices, limits={"limited": limit}))
    (tmp_path / "policies").mkdir()
    env = shared_env(tmp_path, REDIS_URL, prefix, GATEWAY_EXPLORE_RATE="0")
    # 1 prompt token + 16 completion tokens = 17 per request, for the tpm case.
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    try:
        with gateway_processes(2, env, tmp_path) as urls:
            async with httpx.AsyncClient(timeout=30) as http:
                sem = asyncio.Semaphore(8)

                async def one(i: int) -> httpx.Response:
                    async with sem:
                        return await http.post(f"{urls[i % 2]}/v1/chat/completions", json=body)

                replies = await asyncio.gather(*(one(i) for i in range(4 * LIMIT)))
    finally:
        await drop_prefix(prefix)
    assert [r.status_code for r in replies] == [200] * (4 * LIMIT)  # no client request failed
    limited, spare = vendors["limited"].stats, vendors["spare"].stats
    assert max_in_any_minute(list(limited.timestamps)) <= LIMIT
    assert limited.by_status.get(429, 0) == 0  # the vendor never had to refuse
    # Used up to its limit, never beyond (for tpm, our tokenizer counts the message framing the
    # simulator's chars/4 leaves out, so a reservation or two may be held back).
    assert LIMIT - 2 <= limited.requests <= LIMIT
    assert spare.requests == 4 * LIMIT - limited.requests
