"""The engine model of simulated replicas, without sockets: prefix cache, prefill, decode, queue."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from gateway.sim import (
    EngineSpec,
    SimConfig,
    VendorSpec,
    VendorStats,
    load_sim_config,
    replica_specs,
)
from gateway.sim.pool import (
    Engine,
    PrefillLane,
    PrefixCache,
    block_hashes,
    decode_tokens_per_s,
    prefill_s,
)
from gateway.sim.runner import POOL_CONFIG

SYSTEM = "You are a careful assistant. " * 200  # ~1400 tokens, shared by many requests
SPEC = EngineSpec(prefill_tokens_per_s=10_000, block_tokens=16, base_ttft_ms=0)


def _tokens(prompt: str) -> int:
    return -(-len(prompt) // 4)


def test_block_hashes_chain_the_whole_prefix() -> None:
    a = block_hashes("x" * 64 + "y" * 64 + "z" * 10, 16)
    b = block_hashes("x" * 64 + "w" * 64, 16)
    assert len(a) == 2  # the partial last block is not cached
    assert a[0] == b[0]
    assert a[1] != b[1]
    # The same block after a different prefix hashes differently.
    assert block_hashes("w" * 64 + "y" * 64, 16)[1] != a[1]
    assert block_hashes("short", 16) == []


def test_prefix_cache_counts_leading_hits_only() -> None:
    cache = PrefixCache(capacity=100)
    assert cache.lookup([1, 2, 3]) == 0
    assert cache.lookup([1, 2, 3, 4]) == 3
    assert cache.lookup([9, 2, 3]) == 0  # a different head: nothing after it counts
    assert len(cache) == 5


def test_prefix_cache_evicts_least_recently_used_tails_first() -> None:
    cache = PrefixCache(capacity=4)
    cache.lookup([1, 2, 3])
    cache.lookup([7, 8])  # evicts the deepest block of the older prefix, 3
    assert len(cache) == 4
    assert cache.lookup([1, 2, 3]) == 2
    disabled = PrefixCache(capacity=0)
    disabled.lookup([1, 2])
    assert disabled.lookup([1, 2]) == 0
    assert len(disabled) == 0


def test_prefill_lane_queues_prefills_one_after_another() -> None:
    lane = PrefillLane()
    assert lane.schedule(10.0, 0.5) == 10.5
    assert lane.queued_s(10.0) == 0.5
    assert lane.schedule(10.0, 0.5) == 11.0  # the same instant: waits for the first
    assert lane.schedule(20.0, 0.5) == 20.5  # idle lane: starts at once
    assert lane.queued_s(30.0) == 0.0


def test_ttft_grows_with_queued_prefill() -> None:
    engine = Engine(SPEC, VendorStats())
    prompts = [f"request {i}: " + "tell me about GPUs " * 100 for i in range(4)]
    ttfts = [engine.admit(p, _tokens(p), now=0.0).ttft_s for p in prompts]
    assert ttfts == sorted(ttfts)
    assert ttfts[-1] == pytest.approx(4 * ttfts[0], rel=0.05)
    later = engine.admit(prompts[0] + "?", _tokens(prompts[0]) + 1, now=100.0)
    assert later.prefill_queue_s == 0.0


def test_prefix_cache_hit_cuts_ttft_for_a_repeated_system_prompt() -> None:
    stats = VendorStats()
    engine = Engine(SPEC, stats)
    first = SYSTEM + "What is a KV cache?"
    fresh = engine.admit(first, _tokens(first), now=0.0)
    assert fresh.cached_tokens == 0
    repeat = SYSTEM + "And what is prefill?"
    hit = engine.admit(repeat, _tokens(repeat), now=100.0)
    assert hit.cached_tokens >= _tokens(SYSTEM) - SPEC.block_tokens
    assert hit.ttft_s < fresh.ttft_s / 5
    other = "You are a terse pirate. " * 230 + "And what is prefill?"
    miss = engine.admit(other, _tokens(other), now=200.0)
    assert miss.cached_tokens == 0
    assert miss.ttft_s > 5 * hit.ttft_s
    assert stats.prefix_cache_queries == _tokens(first) + _tokens(repeat) + _tokens(other)
    assert stats.prefix_cache_hits == hit.cached_tokens
    engine.reset()
    assert engine.admit(repeat, _tokens(repeat), now=300.0).cached_tokens == 0


def test_a_fully_cached_prompt_still_computes_one_token() -> None:
    engine = Engine(SPEC, VendorStats())
    prompt = "a" * 64 * 4  # exactly 4 blocks
    engine.admit(prompt, 64, now=0.0)
    assert engine.admit(prompt, 64, now=1.0).cached_tokens == 63


def test_prefill_cost_of_cached_tokens_follows_the_factor() -> None:
    spec = SPEC.model_copy(update={"prefix_hit_ttft_factor": 0.5})
    assert prefill_s(spec, 1000, 0) == pytest.approx(0.1)
    assert prefill_s(spec, 1000, 1000) == pytest.approx(0.05)
    assert prefill_s(SPEC, 1000, 1000) == 0.0


def test_decode_slows_with_batch_size() -> None:
    spec = EngineSpec(decode_tokens_per_s=100, decode_slowdown_per_seq=0.1)
    speeds = [decode_tokens_per_s(spec, n) for n in range(1, 9)]
    assert speeds[0] == 100
    assert speeds == sorted(speeds, reverse=True)
    assert speeds[7] == pytest.approx(100 / 1.7)
    assert decode_tokens_per_s(spec, 0) == 100  # never faster than alone
    # Total throughput still grows with the batch: batching is worth it.
    assert 8 * speeds[7] > 4 * speeds[3] > speeds[0]


async def test_requests_beyond_max_batch_wait_in_fifo_order() -> None:
    stats = VendorStats()
    engine = Engine(EngineSpec(max_batch=2), stats)
    release = asyncio.Event()
    order: list[int] = []

    async def one(i: int) -> None:
        async with engine.sequence(f"prompt {i}", 3, 10):
            order.append(i)
            await release.wait()

    tasks = [asyncio.create_task(one(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert (engine.running, engine.waiting) == (2, 3)
    assert engine.kv_tokens == 20
    assert engine.kv_usage == 20 / engine.spec.kv_cache_tokens
    assert order == [0, 1]
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert (engine.running, engine.waiting, engine.kv_tokens) == (0, 0, 0)
    assert stats.max_queue_depth == 3


async def test_kv_capacity_also_limits_admission() -> None:
    engine = Engine(EngineSpec(max_batch=8, kv_cache_tokens=100), VendorStats())
    release = asyncio.Event()

    async def one(kv: int) -> None:
        async with engine.sequence("p", 1, kv):
            await release.wait()

    tasks = [asyncio.create_task(one(kv)) for kv in (60, 60, 500)]
    await asyncio.sleep(0)
    assert (engine.running, engine.waiting) == (1, 2)
    release.set()
    await asyncio.gather(*tasks)  # an oversized request runs alone rather than never
    assert engine.running == 0


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    engine = Engine(EngineSpec(max_batch=1), VendorStats())
    release = asyncio.Event()

    async def one() -> None:
        async with engine.sequence("p", 1, 1):
            await release.wait()

    first, second, third = (asyncio.create_task(one()) for _ in range(3))
    await asyncio.sleep(0)
    assert engine.waiting == 2
    second.cancel()
    await asyncio.sleep(0)
    assert engine.waiting == 1
    release.set()
    await asyncio.gather(first, third)
    assert (engine.running, engine.waiting) == (0, 0)


def test_replicas_expand_into_numbered_vendors() -> None:
    spec = VendorSpec(models=["m"], engine=EngineSpec(), replicas=3, port=9000, seed=5)
    expanded = replica_specs("gpu", spec)
    assert list(expanded) == ["gpu-0", "gpu-1", "gpu-2"]
    assert [s.port for s in expanded.values()] == [9000, 9001, 9002]
    assert [s.seed for s in expanded.values()] == [5, 6, 7]
    assert all(s.replicas == 1 and s.engine == spec.engine for s in expanded.values())
    assert replica_specs("one", VendorSpec()) == {"one": VendorSpec()}
    clash = SimConfig(vendors={"gpu": spec, "gpu-1": VendorSpec()})
    with pytest.raises(ValueError, match="gpu-1"):
        clash.expanded()


def test_engine_yaml_fields_are_validated() -> None:
    spec = VendorSpec.model_validate({"engine": {"kind": "sglang", "max_batch": 4}})
    assert spec.engine is not None
    assert spec.engine.max_batch == 4
    assert VendorSpec().engine is None
    for bad in ({"max_batch": 0}, {"kind": "tgi"}, {"prefix_hit_ttft_factor": 2}, {"x": 1}):
        with pytest.raises(ValidationError):
            VendorSpec.model_validate({"engine": bad})


def test_shipped_pool_config() -> None:
    config = load_sim_config(POOL_CONFIG)
    expanded = config.expanded()
    assert set(expanded) == {"h100-0", "h100-1", "spill-fast", "spill-cheap"}
    assert expanded["h100-0"].engine is not None
    assert expanded["spill-fast"].engine is None
