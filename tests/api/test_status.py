"""GET /admin/status (the status page's data) and GET /ui: the master key guards the data, and
the numbers are those of the traffic sent (counted on the client side) and of the live state."""

from __future__ import annotations

import httpx
import pytest

from tests.api.status_traffic import (
    ADMIN,
    ADS_BUDGET,
    ENV,
    MASTER,
    PRICES,
    SPECS,
    send_traffic,
    status_when,
)
from tests.conftest import FleetFactory
from tests.integration.test_spend_records import ListLedger


async def test_the_data_needs_the_master_key_and_the_page_holds_none(fleet: FleetFactory) -> None:
    async with (
        fleet({"fast": SPECS["fast"]}, {"fast": PRICES["fast"]}, master_key=MASTER) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post("/admin/keys", json={"team": "t"}, headers=ADMIN)
        user_key = r.json()["key"]
        for headers in (
            {},
            {"authorization": "Bearer nope"},
            {"authorization": f"Bearer {user_key}"},
        ):
            r = await http.get("/admin/status", headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "invalid_api_key"
            assert "fast/m" not in r.text
        assert (await http.get("/admin/status", headers=ADMIN)).status_code == 200
        page = await http.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "fast/m" not in page.text and MASTER not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
        assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp


async def test_status_shows_the_traffic_sent_the_live_state_and_spend_by_team(
    fleet: FleetFactory, ledger_url: str
) -> None:
    """On Postgres and on SQLite (conftest's ledger_url)."""
    migrate = {"ledger_migrate": True}  # Postgres is not migrated by default
    async with (
        fleet(SPECS, PRICES, master_key=MASTER, env=ENV, database_url=ledger_url, **migrate) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        sent = await send_traffic(http)
        body = await status_when(http, sum(sent.requests.values()))
        providers = (await http.get("/admin/providers", headers=ADMIN)).json()
    rows = {d["id"]: d for d in body["deployments"]}
    assert set(rows) == {"fast/m", "slow/m", "broken/m", "locked/m"}
    total = sum(sent.deployments.values())
    for dep, row in rows.items():
        assert row["requests_today"] == sent.deployments[dep]
        assert row["share_today"] == round(sent.deployments[dep] / total, 4)
    # The live numbers are /admin/providers' (no traffic in between).
    for dep in providers["deployments"]:
        for name in ("ttft_ms", "tpot_ms", "latency_ms", "credential_rejected", "upstream_model"):
            assert rows[dep["id"]][name] == dep[name]
    assert rows["locked/m"]["health"] == {"level": "bad", "text": "key rejected"}
    # Five straight failures opened it; its cool-down (~2 s) may have ended since.
    assert rows["broken/m"]["circuit"] in ("open", "half-open")
    assert rows["broken/m"]["circuit_open"] == (rows["broken/m"]["circuit"] == "open")
    served = [d for d in ("fast/m", "slow/m") if sent.deployments[d]]
    assert served and all(rows[d]["health"]["level"] == "ok" for d in served)
    assert sum(r["share_recent"] for r in rows.values()) == pytest.approx(1.0, abs=1e-3)
    spend = body["spend_today"]
    teams = {t["team"]: t for t in spend["teams"]}
    assert set(teams) == set(sent.requests) == {"ops", "search", "ads"}
    for team, row in teams.items():
        assert row["requests"] == sent.requests[team]
        assert row["cost_usd"] == pytest.approx(float(sent.cost[team]), abs=1e-9)
    assert teams["ops"]["cost_usd"] == 0
    assert teams["ads"]["budget_usd_day"] == float(ADS_BUDGET)
    left = float(ADS_BUDGET - sent.cost["ads"])
    assert teams["ads"]["left_usd_day"] == pytest.approx(left, abs=1e-9)
    assert teams["search"]["budget_usd_day"] is None
    assert spend["total_usd"] == pytest.approx(float(sum(sent.cost.values())), abs=1e-9)
    assert body["config"]["last_error"] is None


async def test_a_refused_reload_is_shown_with_file_and_line(fleet: FleetFactory) -> None:
    async with (
        fleet({"fast": SPECS["fast"]}, {"fast": PRICES["fast"]}, master_key=MASTER) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        before = (await http.get("/admin/status", headers=ADMIN)).json()["config"]
        f.providers_file.write_text("providers:\n  fast:\n    kind: openai\n    models: [1, 2\n")
        r = await http.post("/admin/reload", headers=ADMIN)
        assert r.status_code == 422
        config = (await http.get("/admin/status", headers=ADMIN)).json()["config"]
    assert config["version"] == before["version"]  # the last good one serves on
    assert config["loaded_at"] == before["loaded_at"]
    assert config["last_error"] and config["last_error_at"] >= before["loaded_at"]
    assert all(e.startswith(f"{f.providers_file}:") for e in config["last_error"])
    assert config["last_error"] == r.json()["problems"]


async def test_without_a_ledger_database_the_rest_still_shows(fleet: FleetFactory) -> None:
    """An injected ledger (no database of ours) and auth off: no spend, and said so."""
    async with (
        fleet({"fast": SPECS["fast"]}, {"fast": PRICES["fast"]}, ledger=ListLedger()) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 200
        body = (await http.get("/admin/status")).json()  # auth off: open, like /admin
    assert body["spend_today"] == {
        "available": False,
        "reason": "no ledger database on this gateway",
    }
    (row,) = body["deployments"]
    assert row["id"] == "fast/m" and row["requests_today"] is None and row["share_today"] is None
    assert row["share_recent"] == 1.0 and row["health"]["level"] == "ok"


async def test_a_ledger_database_that_does_not_answer_leaves_the_rest(
    fleet: FleetFactory,
) -> None:
    """Postgres down at start and after (a closed port): the gateway serves, the page says why."""
    down = "postgresql://postgres@127.0.0.1:9/test"
    async with (
        fleet({"fast": SPECS["fast"]}, {"fast": PRICES["fast"]}, database_url=down) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = (await http.get("/admin/status")).json()
    assert body["spend_today"] == {
        "available": False,
        "reason": "the ledger database does not answer",
    }
    assert [d["id"] for d in body["deployments"]] == ["fast/m"]
