"""The compose stack's `sim` profile works as configured: deploy/sim's vendors, providers and
policies behind a real gateway, and scripts/loadgen.py's traffic through it (teams, keys,
streams, an outage and the failovers it causes), all landing in the ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from scripts import loadgen
from tests.deploy.stack import MASTER_KEY, sim_stack


async def test_loadgen_drives_the_sim_profile_end_to_end(tmp_path: Path) -> None:
    with sim_stack(tmp_path) as stack:
        beat = tmp_path / "beat"
        args = loadgen.parse_args(
            [
                *("--url", stack.gateway, "--rps", "40", "--requests", "60", "--seed", "1"),
                *("--outage-url", stack.vendors["standard"], "--outage-every-s", "0.2"),
                *("--outage-s", "30", "--heartbeat", str(beat)),
            ]
        )
        tally = await loadgen.run(args, MASTER_KEY)
        async with httpx.AsyncClient() as http:
            standard = (await http.get(f"{stack.vendors['standard']}/_sim/stats")).json()
    assert tally.sent == 60
    assert tally.by_status[200] == 60, tally  # every outage absorbed by a failover
    assert beat.exists()
    assert any(int(status) >= 500 for status in standard["by_status"]), standard
    db = sqlite3.connect(tmp_path / "ledger-0.db")
    try:
        teams = dict(db.execute("SELECT team, count(key_id) FROM spend_log GROUP BY team"))
        routes = {r for (r,) in db.execute("SELECT DISTINCT policy FROM spend_log")}
        failed_over = db.execute("SELECT count(*) FROM spend_log WHERE attempts > 1").fetchone()
        streams = db.execute("SELECT count(*) FROM spend_log WHERE stream").fetchone()
    finally:
        db.close()
    assert set(teams) == set(loadgen.TEAMS) and sum(teams.values()) == 60  # each with a key
    assert routes == set(loadgen.ROUTES)
    assert failed_over[0] > 0 and 0 < streams[0] < 60


def test_loadgen_refuses_a_bad_rate() -> None:
    with pytest.raises(SystemExit) as exc:
        loadgen.parse_args(["--url", "http://x", "--rps", "0"])
    assert exc.value.code == 2
