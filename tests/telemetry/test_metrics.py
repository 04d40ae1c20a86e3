"""GET /metrics after real traffic (a failover, a stream, a hedge, a dead deployment, a budgeted
team, an unknown model): every family is there, with the values the spend rows imply."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gateway.ledger.record import SpendRecord
from gateway.ledger.sink import DatabaseUnavailable
from gateway.ledger.writer import LedgerWriter
from gateway.sim import VendorSpec
from gateway.telemetry import families as f
from tests.conftest import FleetFactory
from tests.telemetry.scrape import Scrape

MASTER = "mk-metrics-test-master-key-0123456789"
ADMIN = {"authorization": f"Bearer {MASTER}"}
FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=6)
VENDORS = {
    "bad": FAST.model_copy(update={"error_rate": 1.0}),  # every request: a 500
    "good": FAST,
    "slow": FAST.model_copy(update={"ttft_ms": 3000}),  # raced by the runner-up
    "dead": VendorSpec(models=["d"], ttft_ms=1, error_rate=1.0),
}
PRICES = {"bad": (0.1, 0.1), "good": (1.0, 2.0), "slow": (0.1, 0.1), "dead": (0.1, 0.1)}
POLICIES = """\
routes:
  chat:
    targets: [bad/m, good/m]
    strategy: ordered
  hedged:
    targets: [slow/m, good/m]
    strategy: ordered
    hedge_after_ms: 50
  broken:
    targets: [dead/d]
"""
MSG = [{"role": "user", "content": "hello there, metrics"}]


class ListSink:
    """A database that takes every row (or, `down`, none)."""

    def __init__(self, *, down: bool = False) -> None:
        self.rows: list[SpendRecord] = []
        self.down = down

    async def insert(self, records: Sequence[SpendRecord]) -> int:
        if self.down:
            raise DatabaseUnavailable("down for the test")
        self.rows += records
        return len(records)

    async def close(self) -> None:
        return None


async def _until(check: object, what: str) -> None:
    for _ in range(100):
        if callable(check) and check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _traffic(http: httpx.AsyncClient) -> list[int]:
    """A budgeted team's key, two failovers (one streamed), two hedges, a dead deployment, an
    unknown model; returns the chat answers' attempt counts."""
    team = {"name": "t", "budget_usd_day": "10", "budget_usd_month": "100"}
    assert (await http.post("/admin/teams", json=team, headers=ADMIN)).status_code < 300
    created = await http.post("/admin/keys", json={"team": "t"}, headers=ADMIN)
    user = {"authorization": f"Bearer {created.json()['key']}"}
    chat = []
    for stream in (False, True):
        body = {"model": "chat", "messages": MSG, "stream": stream}
        r = await http.post("/v1/chat/completions", json=body, headers=user)
        assert r.status_code == 200 and r.headers["x-gateway-deployment"] == "good/m"
        chat.append(int(r.headers["x-gateway-attempts"]))
    for who in (ADMIN, user):  # the master key's requests have no team
        body = {"model": "hedged", "messages": MSG}
        r = await http.post("/v1/chat/completions", json=body, headers=who)
        assert r.headers["x-gateway-hedged-with"] == "slow/m"
    for _ in range(2):  # 3 attempts each (the lone candidate): its circuit opens
        body = {"model": "broken", "messages": MSG}
        assert (await http.post("/v1/chat/completions", json=body, headers=user)).status_code == 502
    body = {"model": "nope", "messages": MSG}
    r = await http.post("/v1/chat/completions", json=body, headers=ADMIN)
    assert r.status_code == 404
    return chat


async def test_every_family_has_the_values_the_rows_imply(
    fleet: FleetFactory, tmp_path: Path
) -> None:
    sink = ListSink()
    writer = LedgerWriter(sink, tmp_path / "spool", flush_interval_s=0.05)
    await writer.start()
    async with (
        fleet(
            VENDORS,
            PRICES,
            policies=POLICIES,
            ledger=writer,
            master_key=MASTER,
            limits={"good": {"rpm": 100}},
            explore_rate=0.0,
        ) as fl,
        httpx.AsyncClient(base_url=fl.url, timeout=20) as http,
    ):
        chat = await _traffic(http)
        await _until(lambda: len(sink.rows) == 7, "7 spend rows")
        rows = sink.rows
        spent = sum((r.cost_usd or Decimal(0) for r in rows if r.team == "t"), Decimal(0))

        async def scrape() -> Scrape:
            answer = await http.get("/metrics", headers=ADMIN)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            return Scrape(answer.text)

        # The team's budget is settled off the request path: wait for it to show.
        for _ in range(100):
            m = await scrape()
            left = m.value(f.BUDGET_REMAINING, team="t", period="day")
            if abs(left - float(Decimal(10) - spent)) < 1e-9:
                break
            await asyncio.sleep(0.05)
    await writer.close()
    _check_counters(m, rows, chat)
    _check_live_state(m, spent)


def _check_counters(m: Scrape, rows: list[SpendRecord], chat: list[int]) -> None:
    # Requests: one sample per (route, deployment, status) the rows hold, with their count.
    expected = collections.Counter(
        ((r.policy or "none"), (r.deployment or "none"), str(r.status_code)) for r in rows
    )
    got = {
        (dict(k)["route"], dict(k)["deployment"], dict(k)["status"]): v
        for k, v in m.by_labels(f.REQUESTS).items()
    }
    assert got == expected
    assert expected[("none", "none", "404")] == 1 and expected[("broken", "none", "502")] == 2

    # The GenAI families: one observation per answered row, tokens and TTFT as the rows say.
    served = [r for r in rows if r.provider is not None]
    gen_ai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "good"}
    good = [r for r in served if r.provider == "good"]
    assert m.total(f"{f.OPERATION_DURATION}_count", **gen_ai) == len(good) == 4
    in_tokens = m.total(f"{f.TOKEN_USAGE}_sum", gen_ai_token_type="input")
    out_tokens = m.total(f"{f.TOKEN_USAGE}_sum", gen_ai_token_type="output")
    assert in_tokens == sum(r.prompt_tokens for r in served) > 0
    assert out_tokens == sum(r.completion_tokens for r in served) > 0
    assert m.total(f"{f.TIME_TO_FIRST_CHUNK}_count") == 1  # the one stream
    ttft = next(r.ttft_ms for r in rows if r.stream)
    assert ttft is not None
    assert m.total(f"{f.TIME_TO_FIRST_CHUNK}_sum") == pytest.approx(ttft / 1000)
    assert m.value(f"{f.OPERATION_DURATION}_count", gen_ai_request_model="chat") == 2

    spent = sum((r.cost_usd or Decimal(0) for r in rows if r.team == "t"), Decimal(0))
    # Cost by team: the budgeted team's rows, and the master key's (no team) apart.
    cost = m.value(f.COST, team="t", provider="good", model="m")
    assert cost == pytest.approx(float(spent)) and cost > 0
    assert m.value(f.COST, team="none", provider="good", model="m") > 0

    # Attempts and failovers, as the answers' headers and the broken route tell.
    assert m.value(f.ATTEMPTS, deployment="bad/m", outcome="error") == len(chat)
    assert m.value(f.ATTEMPTS, deployment="dead/d", outcome="error") == 6
    assert m.value(f.ATTEMPTS, deployment="slow/m", outcome="slow") == 2  # lost both races
    assert m.value(f.FAILOVERS, route="chat", reason="error") == sum(a - 1 for a in chat) == 2
    assert m.value(f.FAILOVERS, route="broken", reason="error") == 4
    assert m.value(f.HEDGES, route="hedged", outcome="runner_up_won") == 2
    assert m.value(f"{f.OVERHEAD}_count", route="chat") == 2
    assert m.value(f"{f.OVERHEAD}_count", route="hedged") == 2
    assert m.total(f"{f.OVERHEAD}_count", route="broken") == 0  # no answer, no overhead


def _check_live_state(m: Scrape, spent: Decimal) -> None:
    """At scrape time, from live state."""
    assert m.value(f.CIRCUIT_STATE, deployment="dead/d") == 2  # open
    assert m.value(f.CIRCUIT_STATE, deployment="good/m") == 0
    assert 0.9 <= m.value(f.QUOTA_HEADROOM, deployment="good/m") < 1.0  # a few of 100 rpm
    assert m.value(f.QUOTA_HEADROOM, deployment="bad/m") == 1.0  # no limit declared
    assert m.total(f.IN_FLIGHT) == 0
    assert m.value(f.BUDGET_REMAINING, team="t", period="day") == pytest.approx(
        float(Decimal(10) - spent)
    )
    assert m.value(f.BUDGET_REMAINING, team="t", period="month") == pytest.approx(
        float(Decimal(100) - spent)
    )
    assert m.value(f.LEDGER_QUEUE) == 0 and m.value(f.LEDGER_SPOOLED) == 0
    assert m.value(f.DATABASE_UP) == 1
    assert m.value(f.REDIS_UP) == -1  # no Redis configured


async def test_metrics_need_the_master_key_when_auth_is_on(fleet: FleetFactory) -> None:
    async with (
        fleet({"good": FAST}, {"good": (1.0, 1.0)}, master_key=MASTER) as fl,
        httpx.AsyncClient(base_url=fl.url) as http,
    ):
        assert (await http.get("/metrics")).status_code == 401
        created = await http.post("/admin/keys", json={"team": "t"}, headers=ADMIN)
        user = {"authorization": f"Bearer {created.json()['key']}"}
        refused = await http.get("/metrics", headers=user)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert (await http.get("/metrics", headers=ADMIN)).status_code == 200


async def test_a_metrics_port_serves_without_a_key(fleet: FleetFactory) -> None:
    from tests.redis_servers import free_port

    port = free_port()
    async with (
        fleet({"good": FAST}, {"good": (1.0, 1.0)}, master_key=MASTER, metrics_port=port) as fl,
        httpx.AsyncClient() as http,
    ):
        body = {"model": "m", "messages": MSG}
        assert (await http.post(f"{fl.url}/v1/chat/completions", json=body)).status_code == 401
        r = await http.post(f"{fl.url}/v1/chat/completions", json=body, headers=ADMIN)
        assert r.status_code == 200
        assert (await http.get(f"{fl.url}/metrics")).status_code == 401  # the API port: guarded
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert answer.status_code == 200
        m = Scrape(answer.text)
        assert m.value(f.REQUESTS, route="m", deployment="good/m", status="200") == 1
        assert (await http.get(f"http://127.0.0.1:{port}/admin/keys")).status_code == 404


async def test_a_database_outage_shows_as_spooled_rows(fleet: FleetFactory, tmp_path: Path) -> None:
    writer = LedgerWriter(ListSink(down=True), tmp_path / "spool", flush_interval_s=0.05)
    await writer.start()
    async with (
        fleet({"good": FAST}, {"good": (1.0, 1.0)}, ledger=writer) as fl,
        httpx.AsyncClient(base_url=fl.url) as http,
    ):
        for _ in range(3):
            body = {"model": "m", "messages": MSG}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
        await _until(lambda: writer.stats.spooled == 3, "3 spooled rows")
        m = Scrape((await http.get("/metrics")).text)
    await writer.close()
    assert m.value(f.LEDGER_SPOOLED) == 3
    assert m.value(f.LEDGER_QUEUE) == 0
    assert m.value(f.DATABASE_UP) == 0


async def test_an_unknown_model_collapses_into_one_label(fleet: FleetFactory) -> None:
    async with (
        fleet({"good": FAST}, {"good": (1.0, 1.0)}) as fl,
        httpx.AsyncClient(base_url=fl.url) as http,
    ):
        for name in ("nope-1", "nope-2", "nope-3"):
            body = {"model": name, "messages": MSG}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 404
        text = (await http.get("/metrics")).text
    assert "nope" not in text
    assert Scrape(text).value(f.REQUESTS, route="none", deployment="none", status="404") == 3
