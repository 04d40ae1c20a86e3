"""Simulated replicas over real HTTP: `GET /metrics`, queueing beyond the batch, prefix counters.

Timing assertions are only orderings and lower bounds that sleeps guarantee, never speed claims.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gateway.sim import EngineSpec, SimConfig, SimVendor, VendorSpec, run_sim

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    StartVendor = Callable[..., Awaitable[SimVendor]]

SYSTEM = "You are a helpful assistant for a GPU cloud. " * 40  # ~450 tokens
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{model_name="((?:[^"\\]|\\.)*)"\} (\S+)$')


def parse_metrics(text: str) -> dict[str, tuple[str, str, float]]:
    """A tiny Prometheus text parser: name -> (type, model_name label, value); strict on shape."""
    types: dict[str, str] = {}
    helps: set[str] = set()
    out: dict[str, tuple[str, str, float]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"gauge", "counter"}
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match is not None, f"not a sample line: {line!r}"
            name, label, value = match[1], match[2], float(match[3])
            assert name in types and name in helps, f"{name} has no TYPE or HELP before it"
            out[name] = (types[name], label, value)
    return out


async def scrape(client: httpx.AsyncClient, vendor: SimVendor) -> dict[str, float]:
    resp = await client.get(f"{vendor.root_url}/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {name: value for name, (_, _, value) in parse_metrics(resp.text).items()}


async def chat(
    client: httpx.AsyncClient, vendor: SimVendor, content: str, **body: Any
) -> httpx.Response:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
    payload = {"model": "m", "messages": messages, **body}
    return await client.post(f"{vendor.base_url}/chat/completions", json=payload)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_metrics_use_vllm_names_and_parse(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(models=["llama-3.3-70b", "other"], engine={"kind": "vllm"})
    resp = await client.get(f"{vendor.root_url}/metrics")
    parsed = parse_metrics(resp.text)
    assert parsed["vllm:num_requests_running"] == ("gauge", "llama-3.3-70b", 0.0)
    assert parsed["vllm:num_requests_waiting"] == ("gauge", "llama-3.3-70b", 0.0)
    assert parsed["vllm:kv_cache_usage_perc"][:2] == ("gauge", "llama-3.3-70b")
    assert parsed["vllm:gpu_cache_usage_perc"][2] == parsed["vllm:kv_cache_usage_perc"][2]
    assert parsed["vllm:prefix_cache_queries_total"][0] == "counter"
    assert parsed["vllm:prefix_cache_hits_total"][0] == "counter"


async def test_no_engine_means_no_metrics(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    assert vendor.engine is None
    assert (await client.get(f"{vendor.root_url}/metrics")).status_code == 404


async def test_sglang_names(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(engine={"kind": "sglang"})
    assert (await chat(client, vendor, "one")).status_code == 200
    assert (await chat(client, vendor, "two")).status_code == 200
    metrics = await scrape(client, vendor)
    assert set(metrics) >= {
        "sglang:num_running_reqs",
        "sglang:num_queue_reqs",
        "sglang:token_usage",
        "sglang:cache_hit_rate",
    }
    assert 0 < metrics["sglang:cache_hit_rate"] < 1  # the second request reused the system prompt


@pytest.mark.parametrize("stream", [False, True])
async def test_requests_beyond_max_batch_wait_and_show_in_metrics(
    start_vendor: StartVendor, client: httpx.AsyncClient, stream: bool
) -> None:
    engine = {"max_batch": 2, "decode_tokens_per_s": 100, "decode_slowdown_per_seq": 0}
    vendor = await start_vendor(engine=engine, output_tokens=30)  # ~0.3 s of decode each
    calls = [asyncio.create_task(chat(client, vendor, f"q{i}", stream=stream)) for i in range(5)]

    async def saturated() -> bool:
        metrics = await scrape(client, vendor)
        return metrics["vllm:num_requests_waiting"] == 3

    await wait_for(saturated)
    metrics = await scrape(client, vendor)
    assert metrics["vllm:num_requests_running"] == 2
    assert 0 < metrics["vllm:kv_cache_usage_perc"] < 1
    assert all(r.status_code == 200 for r in await asyncio.gather(*calls))
    metrics = await scrape(client, vendor)
    assert (metrics["vllm:num_requests_running"], metrics["vllm:num_requests_waiting"]) == (0, 0)
    assert metrics["vllm:kv_cache_usage_perc"] == 0
    assert metrics["vllm:generation_tokens_total"] == 5 * 30
    assert vendor.stats.max_queue_depth == 3
    assert vendor.stats.max_in_flight == 5


async def test_ttft_grows_with_the_queue(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    engine = {"max_batch": 1, "decode_tokens_per_s": 200}
    vendor = await start_vendor(engine=engine, output_tokens=20)  # 0.1 s of decode each
    first_token_at: dict[int, float] = {}

    async def one(i: int) -> None:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": f"q{i}"}]}
        async with client.stream("POST", f"{vendor.base_url}/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: {"):
                    first_token_at.setdefault(i, time.monotonic())

    tasks = []
    for i in range(3):  # arrive in order 0, 1, 2
        tasks.append(asyncio.create_task(one(i)))
        await wait_for(functools.partial(_arrived, vendor, i + 1))
    await asyncio.gather(*tasks)
    at = [first_token_at[i] for i in range(3)]
    # With one slot, each first token waits for the whole answer before it (>= 0.1 s of sleep).
    assert at[1] - at[0] > 0.09
    assert at[2] - at[1] > 0.09


async def _arrived(vendor: SimVendor, n: int) -> bool:
    engine = vendor.engine
    assert engine is not None
    return engine.running + engine.waiting >= n


async def test_prefix_cache_counters_move_and_reset(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(engine={"block_tokens": 16})
    first = await chat(client, vendor, "What is a KV cache?")
    prompt_tokens = first.json()["usage"]["prompt_tokens"]
    metrics = await scrape(client, vendor)
    assert metrics["vllm:prefix_cache_queries_total"] == prompt_tokens
    assert metrics["vllm:prefix_cache_hits_total"] == 0
    await chat(client, vendor, "What is prefill?")
    metrics = await scrape(client, vendor)
    hits = metrics["vllm:prefix_cache_hits_total"]
    assert len(SYSTEM) // 4 - 16 <= hits <= len(SYSTEM) // 4 + 16  # the shared system prompt
    assert vendor.stats.prefix_cache_hits == hits
    assert metrics["vllm:prompt_tokens_total"] == vendor.stats.prompt_tokens
    remote = (await client.post(f"{vendor.root_url}/_sim/reset")).json()
    assert remote["prefix_cache_hits"] == remote["prefix_cache_queries"] == 0
    await chat(client, vendor, "What is prefill?")
    assert vendor.stats.prefix_cache_hits == 0  # the reset forgot the cache too


async def test_a_ttft_suffix_still_overrides_the_engine(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(models=["m"], engine={})
    started = time.monotonic()
    assert (await chat(client, vendor, "hi", model="m-ttft-150ms")).status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_run_sim_starts_every_replica_of_a_pool(client: httpx.AsyncClient) -> None:
    pool = VendorSpec(models=["m"], engine=EngineSpec(max_batch=4), replicas=2, output_tokens=4)
    config = SimConfig(vendors={"gpu": pool, "vendor": VendorSpec(models=["m"], ttft_ms=1)})
    async with run_sim(config) as vendors:
        assert set(vendors) == {"gpu-0", "gpu-1", "vendor"}
        assert vendors["gpu-0"].port != vendors["gpu-1"].port
        for name in ("gpu-0", "gpu-1"):
            assert (await chat(client, vendors[name], "hi")).status_code == 200
            assert (await scrape(client, vendors[name]))["vllm:prompt_tokens_total"] > 0
        assert (await client.get(f"{vendors['vendor'].root_url}/metrics")).status_code == 404
