"""A pool whose declared prefill speed is far too optimistic: calibration on the observed TTFT
corrects the prediction the scorer sees, and traffic moves to the vendor that meets the target.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.sim import EngineSpec, SimConfig, VendorSpec, run_sim
from tests.factories import gateway_settings

PROMPT = "Tell me about GPUs. " * 100  # 2,000 characters: ~500 prompt tokens
# The engine prefills 2,000 tokens/s (~250 ms for this prompt); providers.yaml claims 50,000.
ENGINE = EngineSpec(max_batch=4, prefill_tokens_per_s=2_000, prefix_cache_blocks=0)


async def test_observed_ttft_corrects_an_optimistic_pool(tmp_path: Path) -> None:
    sim = SimConfig(
        vendors={
            "pool": VendorSpec(models=["m"], output_tokens=4, engine=ENGINE),
            "vendor": VendorSpec(models=["m"], ttft_ms=40, tokens_per_s=500, output_tokens=4),
        }
    )
    async with run_sim(sim) as vendors:
        providers = {
            "pool": {
                "kind": "pool",
                "engine": "vllm",
                "replicas": [vendors["pool"].base_url],
                "cost": {"gpu_hour_usd": 2.0, "gpus": 1},
                "capacity": {"max_batch": 4, "prefill_tokens_per_s": 50_000},
                "models": {"m": {}},
            },
            "vendor": {
                "base_url": vendors["vendor"].base_url,
                "models": {"m": {"price": {"input_per_mtok": 0.5, "output_per_mtok": 0.5}}},
            },
        }
        policy = {
            "routes": {
                "m": {
                    "targets": ["pool/m", "vendor/m"],
                    "strategy": "balanced",
                    "slo": {"ttft_ms": 150, "value_usd": 0.05},
                    "prefer_owned_capacity": True,
                }
            }
        }
        (tmp_path / "providers.yaml").write_text(yaml.safe_dump({"providers": providers}))
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "m.yaml").write_text(yaml.safe_dump(policy))
        settings = gateway_settings(tmp_path, explore_rate=0.0)
        body = {
            "model": "m",
            "stream": True,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        served: list[str] = []
        async with (
            serve_in_loop(create_app(settings, env={})) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            for _ in range(30):
                async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                    assert r.status_code == 200
                    await r.aread()
                    served.append(r.headers["x-gateway-provider"])
            admin = (await http.get("/admin/providers")).json()
    assert served[0] == "pool"  # declared fast and cheap: the pool is tried first
    assert served[-10:] == ["vendor"] * 10  # once its real TTFT is known, the target decides
    row = next(d for d in admin["deployments"] if d["id"] == "pool/m")
    replica = row["pool"]["replicas"][0]
    assert replica["ttft_bias"] > 5  # observed ~250 ms against ~15 ms predicted
    assert replica["last_ttft_ms"][1] > 150  # observed
    assert row["ttft_ms"] > 150  # what the scorer now sees for the pool: the target is missed
