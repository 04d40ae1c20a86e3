"""`gateway replay` predicts a policy edit: traffic run under policy A, replayed under policy B,
then the same traffic run under B for real; predicted cost and split within 10 % of measured."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory, postgres_schema
from tests.gateway_procs import GATEWAY

pytestmark = pytest.mark.usefixtures("steady_gc")  # latencies are asserted

# Plain requests: a (cheaper, slow) or b (fast). Tool calls: c (cheaper, slow) or d (fast).
# Prices are close, so that the router's 2 % exploration moves the cost by little.
SLOW, FAST = 300, 2
SPECS = {
    name: VendorSpec(models=["m"], ttft_ms=ttft, tokens_per_s=4000, output_tokens=8)
    for name, ttft in (("a", SLOW), ("b", FAST), ("c", SLOW), ("d", FAST))
}
PRICES = {"a": (0.8, 0.8), "b": (1.0, 1.0), "c": (0.9, 0.9), "d": (1.2, 1.2)}
CAPS = {"a": ["json_mode"], "b": ["json_mode"], "c": ["tools"], "d": ["tools"]}
ROUTE = (
    "routes:\n  chat:\n    targets: [a/m, b/m, c/m, d/m]\n"
    "    slo: {{ttft_ms: {ttft}, value_usd: 0.001}}\n"
)
# A: a TTFT target only the fast deployments meet. B, the edit: one the slow ones meet too.
POLICY_A, POLICY_B = ROUTE.format(ttft=250), ROUTE.format(ttft=1000)
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
REQUESTS, INTERVAL_S = 120, 0.02  # arrivals at a steady rate, whatever the replies


def body(i: int) -> dict[str, Any]:
    # ~100 prompt tokens: what a request costs, more than what the latency term charges.
    text = "please answer this question " + "x" * (360 + (i % 7) * 8)
    out: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    out["stream"] = i % 4 != 0  # mostly streams: their TTFT is what the SLO is about
    if i % 3 == 0:
        out["tools"] = [TOOL]
    return out


async def run_traffic(
    fleet: FleetFactory,
    policy: str,
    url: str,
    specs: dict[str, VendorSpec] = SPECS,
    prices: dict[str, tuple[float, float]] = PRICES,
    **options: Any,
) -> None:
    options.setdefault("capabilities", CAPS)
    # The vendors' published TTFT: one stalled early sample (a busy CI host) must not decide a
    # 2.4 s run on its own, as it would with nothing to weigh it against.
    options.setdefault("typical_ttft", True)
    async with (
        fleet(
            specs, prices, policies=policy, database_url=url, ledger_migrate=True, **options
        ) as f,
        httpx.AsyncClient(base_url=f.url, timeout=30) as http,
    ):

        async def one(i: int) -> None:
            r = await http.post("/v1/chat/completions", json=body(i))
            assert r.status_code == 200, r.text

        # Open loop, as production traffic: the replay keeps the recorded arrival times.
        sent = []
        for i in range(REQUESTS):
            sent.append(asyncio.create_task(one(i)))
            await asyncio.sleep(INTERVAL_S)
        await asyncio.gather(*sent)
    # The fleet has stopped: its lifespan flushed the ledger.


async def measured(url: str) -> tuple[float, dict[str, float]]:
    engine = create_engine(parse_database_url(url))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(spend_log.c.deployment, spend_log.c.cost_usd))).all()
    await engine.dispose()
    assert len(rows) == REQUESTS
    counts = Counter(r.deployment for r in rows)
    cost = sum((r.cost_usd for r in rows), start=Decimal(0))
    return float(cost), {d: n / REQUESTS for d, n in counts.items()}


async def tagged_tools(url: str) -> int:
    """Rows whose request needed tools, as spend_log's tags say (what the replay routes by)."""
    engine = create_engine(parse_database_url(url))
    async with engine.connect() as conn:
        tags = (await conn.execute(select(spend_log.c.tags))).scalars().all()
    await engine.dispose()
    return sum(1 for t in tags if t.get("capabilities") == "tools")


def replay(url: str, policies: Path, providers: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            GATEWAY,
            "replay",
            "--policies",
            str(policies),
            "--providers",
            str(providers),
            "--since",
            "1h",
            "--format",
            "json",
        ],
        env={**os.environ, "GATEWAY_DATABASE_URL": url},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"replay:" in done.stderr  # progress goes to stderr, JSON alone to stdout
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def moved(a: dict[str, float], b: dict[str, float]) -> float:
    """The share of traffic placed differently by two splits (total variation distance)."""
    return sum(abs(a.get(d, 0.0) - b.get(d, 0.0)) for d in set(a) | set(b)) / 2


async def test_replay_predicts_a_policy_edit(fleet: FleetFactory, tmp_path: Path) -> None:
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "chat.yaml").write_text(POLICY_B)
    async with postgres_schema() as url_a, postgres_schema() as url_b:
        await run_traffic(fleet, POLICY_A, url_a)
        report = replay(url_a, candidate, tmp_path / "providers.yaml")["routes"]["chat"]
        await run_traffic(fleet, POLICY_B, url_b)
        cost_a, split_a = await measured(url_a)
        cost_b, split_b = await measured(url_b)
        assert await tagged_tools(url_a) == sum(1 for i in range(REQUESTS) if "tools" in body(i))
        # B's own run, seen by the same yardstick (its targets), for its SLO attainment.
        measured_b = replay(url_b, candidate, tmp_path / "providers.yaml")["routes"]["chat"]
    print(f"A: {cost_a:.7f} {split_a}\nB: {cost_b:.7f} {split_b}\nreplay of A under B: {report}")

    actual, predicted = report["actual"], report["predicted"]
    assert actual["requests"] == REQUESTS and abs(actual["cost_usd"] - cost_a) < 1e-9
    assert moved(actual["split"], split_a) < 1e-9
    assert predicted["requests"] == REQUESTS and report["unserved"] == 0
    assert abs(sum(predicted["split"].values()) - 1) < 1e-9
    # The edit really moves the traffic (to the slow, cheaper deployments) and saves money...
    assert moved(split_a, split_b) > 0.5 and cost_b < cost_a
    assert split_b.get("a/m", 0) + split_b.get("c/m", 0) > 0.8
    # ...and the replay saw it coming: cost and split within 10 % of B's measured ones.
    assert abs(predicted["cost_usd"] - cost_b) <= 0.10 * cost_b, (predicted["cost_usd"], cost_b)
    assert moved(predicted["split"], split_b) <= 0.10, (predicted["split"], split_b)
    assert measured_b["actual"]["slo_attainment"] is not None
    assert abs(predicted["slo_attainment"] - measured_b["actual"]["slo_attainment"]) <= 0.10


# Declared limits: a is the cheaper, with 40 requests a minute; b has none.
QUOTA_SPECS = {n: VendorSpec(models=["m"], ttft_ms=FAST, tokens_per_s=4000) for n in "ab"}
QUOTA_PRICES = {"a": (0.5, 0.5), "b": (1.0, 1.0)}
ORDERED = "routes:\n  chat:\n    targets: [b/m, a/m]\n    strategy: ordered\n"
LIMITS = {"a": {"rpm": 40}}
CHEAPEST = "routes:\n  chat:\n    targets: [a/m, b/m]\n    strategy: cheapest\n"


async def test_replay_fills_a_declared_limit_as_the_gateway_does(
    fleet: FleetFactory, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "chat.yaml").write_text(CHEAPEST)
    quota = (QUOTA_SPECS, QUOTA_PRICES)
    async with postgres_schema() as url_a, postgres_schema() as url_b:
        await run_traffic(fleet, ORDERED, url_a, *quota, capabilities=None, limits=LIMITS)
        report = replay(url_a, candidate, tmp_path / "providers.yaml")["routes"]["chat"]
        await run_traffic(fleet, CHEAPEST, url_b, *quota, capabilities=None, limits=LIMITS)
        cost_a, split_a = await measured(url_a)
        cost_b, split_b = await measured(url_b)
    print(f"A: {cost_a:.7f} {split_a}\nB: {cost_b:.7f} {split_b}\nreplay of A under B: {report}")
    predicted = report["predicted"]
    assert split_a.get("b/m", 0) > 0.9 and report["unserved"] == 0
    assert 30 / REQUESTS <= predicted["split"]["a/m"] <= 40 / REQUESTS  # at most the limit
    assert abs(predicted["cost_usd"] - cost_b) <= 0.10 * cost_b, (predicted["cost_usd"], cost_b)
    assert moved(predicted["split"], split_b) <= 0.10, (predicted["split"], split_b)
