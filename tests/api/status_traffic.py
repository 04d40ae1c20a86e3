"""Traffic for the status page's tests (JSON and browser): what was sent, counted on the client
side from the answers (deployment headers, usage times the prices below), to check the page."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import orjson

from gateway.sim import VendorSpec
from gateway.sim.catalog import api_key_env

MASTER = "mk-status-page"
ADMIN = {"authorization": f"Bearer {MASTER}"}
SPECS = {
    "fast": VendorSpec(models=["m"], ttft_ms=2, tokens_per_s=5000, output_tokens=6),
    "slow": VendorSpec(models=["m"], ttft_ms=30, tokens_per_s=2000, output_tokens=6),
    "broken": VendorSpec(models=["m"], error_rate=1.0),
    # Checks its key, and the gateway holds a wrong one: "key rejected" for 5 minutes.
    "locked": VendorSpec(models=["m"], dialect="anthropic", api_key="sk-right"),
}
PRICES = {"fast": (1.0, 4.0), "slow": (1.0, 4.0), "broken": (0.5, 0.5), "locked": (3.0, 15.0)}
ENV = {api_key_env("locked"): "sk-wrong"}
ADS_BUDGET = Decimal("0.5")
MSG = [{"role": "user", "content": "hello there"}]


@dataclass
class Sent:
    requests: Counter[str] = field(default_factory=Counter)  # team -> requests
    cost: dict[str, Decimal] = field(default_factory=dict)  # team -> USD, from usage times price
    deployments: Counter[str] = field(default_factory=Counter)  # deployment -> requests served

    def add(self, team: str, deployment: str | None, usage: dict[str, int] | None) -> None:
        """`deployment`: the one that served it (None: failed, no deployment is credited)."""
        self.requests[team] += 1
        cost = Decimal(0)
        if deployment is not None and usage is not None:
            self.deployments[deployment] += 1
            price_in, price_out = PRICES[deployment.split("/")[0]]
            cost = (
                Decimal(usage["prompt_tokens"]) * Decimal(str(price_in))
                + Decimal(usage["completion_tokens"]) * Decimal(str(price_out))
            ) / 1_000_000
        self.cost[team] = self.cost.get(team, Decimal(0)) + cost


async def send_traffic(http: httpx.AsyncClient, *, evil_team: str | None = None) -> Sent:
    """Chat for model `m` from teams search and ads (ads has a daily budget), one of them a
    stream, then failures pinned to `broken` (its circuit opens) and `locked` (its key is
    refused); `evil_team`: a team name to try the page's escaping with."""
    r = await http.post(
        "/admin/teams", json={"name": "ads", "budget_usd_day": str(ADS_BUDGET)}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    sent = Sent()
    teams = ["search", "ads", *([evil_team] if evil_team else [])]
    for i in range(12):
        await _chat(http, sent, teams[i % len(teams)])
    await _stream(http, sent, "search")
    # Last, so that the page is looked at soon after: its failure rate decays (~10 s).
    for _ in range(5):
        await _chat(http, sent, "ops", model="broken/m", expect=False)
    body = {"model": "locked/m", "max_tokens": 16, "messages": MSG}
    r = await http.post("/v1/messages", json=body, headers=_as("ops"))
    assert r.status_code >= 500, r.text  # the vendor refused our key
    sent.add("ops", None, None)
    return sent


async def _chat(
    http: httpx.AsyncClient, sent: Sent, team: str, *, model: str = "m", expect: bool = True
) -> None:
    body = {"model": model, "messages": MSG, "max_tokens": 16}
    r = await http.post("/v1/chat/completions", json=body, headers=_as(team))
    assert (r.status_code == 200) is expect, r.text
    if expect:
        sent.add(team, r.headers["x-gateway-deployment"], r.json()["usage"])
    else:
        sent.add(team, None, None)


async def _stream(http: httpx.AsyncClient, sent: Sent, team: str) -> None:
    body = {
        "model": "m",
        "messages": MSG,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    usage = None
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=_as(team)) as r:
        assert r.status_code == 200
        deployment = r.headers["x-gateway-deployment"]
        async for line in r.aiter_lines():
            if line.startswith("data: {"):
                usage = orjson.loads(line[6:]).get("usage") or usage
    assert usage is not None
    sent.add(team, deployment, usage)


def _as(team: str) -> dict[str, str]:
    return {**ADMIN, "x-gateway-team": team}


async def status_when(
    http: httpx.AsyncClient, requests: int, seconds: float = 15.0
) -> dict[str, Any]:
    """/admin/status once the ledger holds `requests` rows today (its writer batches)."""
    deadline = time.monotonic() + seconds
    while True:
        r = await http.get("/admin/status", headers=ADMIN)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        spend = body["spend_today"]
        if spend["available"] and sum(t["requests"] for t in spend["teams"]) >= requests:
            return body
        assert time.monotonic() < deadline, f"the ledger did not show {requests} rows: {spend}"
        await asyncio.sleep(0.1)
