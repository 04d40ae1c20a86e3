"""Pool replicas found by DNS: one per address, re-resolved, a failed lookup keeps what is known."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench import pools
from gateway.app import create_app
from gateway.config.runtime import DnsSource
from gateway.embedded import serve_in_loop
from gateway.sim import run_sim
from gateway.upstream.pool import PoolUpstream
from gateway.upstream.pool_dns import replica_urls
from gateway.upstream.pool_scraper import PoolScraper
from tests.factories import gateway_settings, pool_upstream

SOURCE = DnsSource("http://vllm-headless.llm.svc:8000/v1", "/metrics", refresh_s=0.1)


def test_one_replica_per_address_in_a_stable_order() -> None:
    urls = replica_urls(SOURCE, ["10.0.0.12", "10.0.0.9", "10.0.0.12", "fd00::1"])
    assert urls == [
        ("http://10.0.0.9:8000/v1", "http://10.0.0.9:8000/metrics"),
        ("http://10.0.0.12:8000/v1", "http://10.0.0.12:8000/metrics"),
        ("http://[fd00::1]:8000/v1", "http://[fd00::1]:8000/metrics"),
    ]
    https = replace(SOURCE, url="https://engines/v1", metrics_path="/prom")
    assert replica_urls(https, ["10.1.1.1"]) == [
        ("https://10.1.1.1:443/v1", "https://10.1.1.1:443/prom")
    ]


def dns_pool() -> PoolUpstream:
    return pool_upstream(dns=SOURCE, max_batch=8)  # engine: openai, nothing to scrape


async def test_the_replica_set_follows_the_name(caplog: pytest.LogCaptureFixture) -> None:
    answers: list[list[str] | OSError] = [
        ["10.0.0.1", "10.0.0.2"],
        ["10.0.0.2", "10.0.0.3"],  # one replaced
        OSError("Name or service not known"),  # a DNS hiccup
        [],
    ]
    asked: list[tuple[str, int]] = []
    all_asked = asyncio.Event()

    async def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if len(asked) >= len(answers):
            all_asked.set()
        answer = answers[min(len(asked) - 1, len(answers) - 1)]
        if isinstance(answer, OSError):
            raise answer
        return answer

    pool = dns_pool()
    assert pool.replicas == []  # nothing until the name resolves
    scraper = PoolScraper(lambda: {"pool": pool}, interval_s=0.02, resolver=resolver)
    with caplog.at_level(logging.WARNING, logger="gateway.pool"):
        await scraper.start()  # resolves before the first scrape
        assert [r.url for r in pool.replicas] == [
            "http://10.0.0.1:8000/v1",
            "http://10.0.0.2:8000/v1",
        ]
        kept = pool.replicas[1]
        kept.served = 42
        await all_asked.wait()
        await scraper.close()
    assert asked[0] == ("vllm-headless.llm.svc", 8000)
    assert [r.url for r in pool.replicas] == ["http://10.0.0.2:8000/v1", "http://10.0.0.3:8000/v1"]
    assert pool.replicas[0] is kept and kept.served == 42  # a known replica keeps its state
    warnings = [r.message for r in caplog.records]
    assert sum("did not resolve" in m for m in warnings) == 1  # once per outage
    await pool.aclose()


async def test_a_pool_named_by_dns_serves_through_the_address_it_resolves_to(
    tmp_path: Path,
) -> None:
    async with run_sim(pools.sim_config()) as vendors:
        port = httpx.URL(vendors["pool-0"].base_url).port
        (tmp_path / "policies").mkdir()
        providers = tmp_path / "providers.yaml"
        providers.write_text(
            "providers:\n"
            "  pool:\n"
            "    kind: pool\n"
            "    engine: vllm\n"
            f"    replicas: {{dns: 'http://localhost:{port}/v1', refresh_s: 1}}\n"
            "    cost: {gpu_hour_usd: 2.0, gpus: 1}\n"
            f"    models: {{{pools.MODEL}: {{}}}}\n"
        )
        settings = gateway_settings(tmp_path)
        body = {"model": pools.MODEL, "messages": [{"role": "user", "content": "hi"}]}
        async with (
            serve_in_loop(create_app(settings, env={})) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            replies = [await http.post("/v1/chat/completions", json=body) for _ in range(3)]
            admin = (await http.get("/admin/providers")).json()
    assert [r.status_code for r in replies] == [200] * 3
    assert vendors["pool-0"].stats.requests == 3
    row = next(d for d in admin["deployments"] if d["provider"] == "pool")
    assert [r["url"] for r in row["pool"]["replicas"]] == [f"http://127.0.0.1:{port}/v1"]
