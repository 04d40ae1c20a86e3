"""Keys on the request path (issue 14): a gw- key from the admin API serves, stands for its team
and allow-list, and is refused once revoked (by every replica within a second) or expired; a
wrong key is a 401 in the caller's dialect, a model outside the allow-list a 403."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory, postgres_schema
from tests.gateway_procs import gateway_processes
from tests.integration.test_spend_records import ListLedger

FAST = VendorSpec(models=["m", "n"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MASTER = "mk-test-master"
ADMIN = {"authorization": f"Bearer {MASTER}"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


async def new_key(http: httpx.AsyncClient, **fields: object) -> tuple[str, str]:
    r = await http.post("/admin/keys", json={"team": "search", **fields}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["key"], r.json()["id"]


async def test_a_key_serves_as_its_team_and_a_wrong_one_is_refused_in_each_dialect(
    fleet: FleetFactory,
) -> None:
    ledger = ListLedger()
    async with (
        fleet({"a": FAST}, {"a": (1.0, 1.0)}, master_key=MASTER, ledger=ledger) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        key, key_id = await new_key(http, models=["m"])
        assert key.startswith("gw-") and len(key) > 40
        ok = await http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"authorization": f"Bearer {key}", "x-gateway-team": "someone-else"},
        )
        assert ok.status_code == 200, ok.text
        r = await http.post("/v1/messages", json=MESSAGES, headers={"x-api-key": key})
        assert r.status_code == 200, r.text
        for headers in ({}, {"authorization": "Bearer gw-not-a-key"}):
            r = await http.post("/v1/chat/completions", json=CHAT, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            r = await http.post("/v1/messages", json=MESSAGES, headers=headers)
            assert r.status_code == 401
            assert r.json() == {
                "type": "error",
                "error": {"type": "authentication_error", "message": r.json()["error"]["message"]},
            }
        outside = {**CHAT, "model": "n"}
        r = await http.post(
            "/v1/chat/completions", json=outside, headers={"authorization": f"Bearer {key}"}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
        models = await http.get("/v1/models", headers={"authorization": f"Bearer {key}"})
        assert {m["id"] for m in models.json()["data"]} == {"m"}
        listed = (await http.get("/admin/keys", headers=ADMIN)).text
        assert key not in listed  # never shown again
        r = await http.get("/admin/keys", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 401  # a gw- key is no admin
    served = [row for row in ledger.records if row.status_code == 200]
    assert {(row.team, row.key_id) for row in served} == {("search", key_id)}


async def test_revoked_and_expired_keys_are_refused_within_a_second(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": FAST}, {"a": (1.0, 1.0)}, master_key=MASTER) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        key, key_id = await new_key(http)
        auth = {"authorization": f"Bearer {key}"}
        assert (await http.post("/v1/chat/completions", json=CHAT, headers=auth)).status_code == 200
        assert (await http.delete(f"/admin/keys/{key_id}", headers=ADMIN)).status_code == 200
        assert await refused_within(http, auth, seconds=1.0)
        short, _ = await new_key(http, expires_in_s=1)
        auth = {"authorization": f"Bearer {short}"}
        assert await served_within(http, auth, seconds=1.0)  # the directory picks it up
        await asyncio.sleep(1.0)
        assert (await http.post("/v1/chat/completions", json=CHAT, headers=auth)).status_code == 401


async def refused_within(http: httpx.AsyncClient, auth: dict[str, str], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = await http.post("/v1/chat/completions", json=CHAT, headers=auth)
        if r.status_code == 401:
            return True
        await asyncio.sleep(0.05)
    return False


async def served_within(http: httpx.AsyncClient, auth: dict[str, str], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await http.post("/v1/chat/completions", json=CHAT, headers=auth)).status_code == 200:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.timeout(120)
async def test_a_key_revoked_through_one_replica_is_refused_by_the_other_within_a_second(
    tmp_path: Path,
) -> None:
    from gateway.sim import run_sim
    from gateway.sim.catalog import SimPrice, providers_yaml
    from gateway.sim.config import SimConfig

    async with run_sim(SimConfig(vendors={"a": FAST})) as vendors, postgres_schema() as db:
        workdir = tmp_path / "fleet"
        (workdir / "policies").mkdir(parents=True)
        (workdir / "providers.yaml").write_text(providers_yaml(vendors, {"a": SimPrice(1, 1)}))
        env = {
            "GATEWAY_PROVIDERS": str(workdir / "providers.yaml"),
            "GATEWAY_POLICIES": str(workdir / "policies"),
            "GATEWAY_DATABASE_URL": db,
            "GATEWAY_LEDGER_MIGRATE": "true",
            "GATEWAY_AUTH": "true",
            "GATEWAY_MASTER_KEY": MASTER,
        }
        with gateway_processes(2, env, workdir) as (one, two):
            async with httpx.AsyncClient(base_url=one) as a, httpx.AsyncClient(base_url=two) as b:
                key, key_id = await new_key(a)
                auth = {"authorization": f"Bearer {key}"}
                assert await served_within(b, auth, seconds=2.0)  # created on one, known to two
                assert (await a.delete(f"/admin/keys/{key_id}", headers=ADMIN)).status_code == 200
                started = time.monotonic()
                assert await refused_within(b, auth, seconds=1.0)
                print(f"revocation reached the other replica in {time.monotonic() - started:.2f} s")
