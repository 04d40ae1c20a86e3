"""`gateway serve --workers 2` on Redis and a ledger database: every endpoint answers, both
workers serve, every request lands one row; a deployment's rpm, a key's rpm and a team's daily
budget hold across the workers as across replicas."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.tenancy.store import KeyStore
from tests.gateway_procs import gateway_server
from tests.integration.workers_fleet import CHAT, clients_on_both_workers, ledger_rows, workers_env

MASTER = "mk-workers-master"


async def every_endpoint(http: httpx.AsyncClient) -> list[str]:
    """Chat, a slow stream, embeddings, completions and Messages; their x-request-ids."""
    ids = []
    r = await http.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.headers["x-gateway-deployment"] == "a/m", r.text
    ids.append(r.headers["x-request-id"])
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.stream("POST", "/v1/chat/completions", json=body) as stream:
        assert stream.status_code == 200
        events = [line async for line in stream.aiter_lines() if line.startswith("data: ")]
        ids.append(stream.headers["x-request-id"])
    assert events[-1] == "data: [DONE]"
    assert orjson.loads(events[-2][6:])["choices"][0]["finish_reason"] == "stop"
    r = await http.post("/v1/embeddings", json={"model": "m", "input": ["one", "two"]})
    assert r.status_code == 200 and len(r.json()["data"]) == 2, r.text
    ids.append(r.headers["x-request-id"])
    r = await http.post("/v1/completions", json={"model": "m", "prompt": "hi", "max_tokens": 4})
    assert r.status_code == 200 and r.json()["choices"][0]["text"], r.text
    ids.append(r.headers["x-request-id"])
    messages = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    r = await http.post("/v1/messages", json=messages)
    assert r.status_code == 200 and r.json()["type"] == "message", r.text
    ids.append(r.headers["x-request-id"])
    models = (await http.get("/v1/models")).json()["data"]
    assert {m["id"] for m in models} >= {"m", "slow"}
    return ids


@pytest.mark.timeout(120)
async def test_two_workers_serve_every_endpoint_and_every_row_lands(
    tmp_path: Path, ledger_url: str
) -> None:
    extra = {"GATEWAY_LEDGER_FLUSH_INTERVAL_S": "0.05"}
    async with workers_env(tmp_path, ledger_url, extra=extra) as (env, _):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            async with AsyncExitStack() as stack:
                clients = await clients_on_both_workers(stack, gateway, 6)
                sent = [
                    i for ids in await asyncio.gather(*map(every_endpoint, clients)) for i in ids
                ]
    rows = await ledger_rows(ledger_url)
    assert len(sent) == 30 == len(set(sent))
    assert sorted(r.request_id for r in rows) == sorted(sent)  # all there, once each
    endpoints = {"/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/messages"}
    assert {r.endpoint for r in rows} == endpoints
    assert all(r.status_code == 200 and r.error_type is None for r in rows)
    assert sum(r.stream for r in rows) == 6 and all(r.cost_usd > 0 for r in rows)
    log = gateway.log.read_text()
    assert log.count("gateway ready") == 2, log  # each worker logs, through the redaction filter


@pytest.mark.timeout(120)
@pytest.mark.parametrize("spare", [False, True], ids=["alone", "with-spare"])
async def test_a_deployments_rpm_holds_across_workers(tmp_path: Path, spare: bool) -> None:
    limit = 10
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    limits = {"a": {"rpm": limit}}
    async with workers_env(tmp_path, url, limits=limits, spare=spare) as (env, vendors):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            async with AsyncExitStack() as stack:
                clients = await clients_on_both_workers(stack, gateway, 6)

                async def client(http: httpx.AsyncClient) -> list[httpx.Response]:
                    return [await http.post("/v1/chat/completions", json=CHAT) for _ in range(5)]

                replies = [r for rs in await asyncio.gather(*map(client, clients)) for r in rs]
    codes = [r.status_code for r in replies]
    limited = vendors["a"].stats
    assert limited.by_status.get(429, 0) == 0  # the vendor never had to refuse
    if not spare:  # the only deployment: exactly its limit served, the rest refused
        assert limited.requests == limit == codes.count(200) and codes.count(429) == 30 - limit
        assert {r.json()["error"]["code"] for r in replies if r.status_code == 429} == {
            "rate_limit_exceeded"
        }
        return
    assert codes == [200] * 30  # the rest went to the spare
    # Used up to its limit, never beyond (as headroom falls, scoring starts moving traffic).
    assert limit - 2 <= limited.requests <= limit
    assert vendors["b"].stats.requests == 30 - limited.requests


@pytest.mark.timeout(150)
async def test_a_keys_rpm_and_a_teams_budget_hold_across_workers(
    tmp_path: Path, ledger_url: str
) -> None:
    budget = Decimal("0.5")  # about 20 requests' worth at $1000/Mtok, 21 tokens each
    keys = await KeyStore.open(ledger_url, migrate=True)
    try:
        await keys.create_team("spenders", budget_usd_day=budget)
        _, spender = await keys.create_key("spenders")
        _, hasty = await keys.create_key("hasty", rpm=6)
    finally:
        await keys.close()
    # Reservations of what a request costs (20 output tokens), not of 256 tokens' worth.
    extra = {
        "GATEWAY_AUTH": "true",
        "GATEWAY_MASTER_KEY": MASTER,
        "GATEWAY_DEFAULT_OUTPUT_TOKENS": "20",
    }
    async with workers_env(tmp_path, ledger_url, extra=extra) as (env, _):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            async with AsyncExitStack() as stack:
                headers = {"authorization": f"Bearer {hasty}"}
                clients = await clients_on_both_workers(stack, gateway, 6, headers)
                rated = await asyncio.gather(
                    *(c.post("/v1/chat/completions", json=CHAT) for c in clients for _ in range(3))
                )
            async with AsyncExitStack() as stack:
                headers = {"authorization": f"Bearer {spender}"}
                clients = await clients_on_both_workers(stack, gateway, 12, headers)

                async def client(http: httpx.AsyncClient) -> list[httpx.Response]:
                    return [await http.post("/v1/chat/completions", json=CHAT) for _ in range(5)]

                spent = [r for rs in await asyncio.gather(*map(client, clients)) for r in rs]
    codes = [r.status_code for r in rated]
    assert codes.count(200) == 6 and codes.count(429) == 12, codes
    assert {r.json()["error"]["code"] for r in rated if r.status_code == 429} == {
        "rate_limit_exceeded"
    }
    refused = [r for r in spent if r.status_code == 429]
    assert refused and {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    assert all(r.status_code in (200, 429) for r in spent)
    rows = [r for r in await ledger_rows(ledger_url) if r.status_code == 200]
    spenders = {r.headers["x-request-id"] for r in spent if r.status_code == 200}
    cost = sum(r.cost_usd for r in rows if r.request_id in spenders)
    one = max(r.cost_usd for r in rows)
    assert len(spenders) == sum(1 for r in rows if r.request_id in spenders)
    # 60 requests would cost $1.26: held to the one budget (each worker alone would allow it).
    assert budget / 2 < cost <= budget + one, (cost, one)
