"""The compose stack's `sim` profile works as configured: deploy/sim's vendors, providers and
policies behind a real `gateway serve`, scripts/loadgen.py's traffic through it (teams, keys,
streams, an outage and the failovers it causes) in the ledger, and in /metrics every series the
Grafana dashboards read, with the labels of the contract."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts import loadgen
from tests.deploy.grafana import CONTRACT, HISTOGRAMS, PROMETHEUS_UID, prom_refs, queries
from tests.deploy.stack import MASTER_KEY, sim_stack

REQUESTS = 60


@dataclass(frozen=True)
class Run:
    tally: loadgen.Tally
    heartbeat: Path
    standard: dict[str, Any]  # the vendor taken down: its /_sim/stats
    metrics: str  # GET /metrics with the master key, after the traffic
    ledger: Path  # the gateway's SQLite ledger


async def _drive(gateway: str, standard: str, beat: Path) -> tuple[loadgen.Tally, Any, str]:
    args = loadgen.parse_args(
        [
            *("--url", gateway, "--rps", "40", "--requests", str(REQUESTS), "--seed", "1"),
            *("--outage-url", standard, "--outage-every-s", "0.2", "--outage-s", "30"),
            *("--heartbeat", str(beat)),
        ]
    )
    tally = await loadgen.run(args, MASTER_KEY)
    async with httpx.AsyncClient() as http:
        stats = (await http.get(f"{standard}/_sim/stats")).json()
        scrape = await http.get(
            f"{gateway}/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"}
        )
    assert scrape.status_code == 200, scrape.text
    return tally, stats, scrape.text


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One stack, one run of traffic, inspected by every test below (it takes ~20 s)."""
    workdir = tmp_path_factory.mktemp("sim-profile")
    beat = workdir / "beat"
    with sim_stack(workdir) as stack:
        tally, stats, metrics = asyncio.run(_drive(stack.gateway, stack.vendors["standard"], beat))
    return Run(tally, beat, stats, metrics, workdir / "ledger-0.db")


def test_every_request_is_answered_despite_the_outage(run: Run) -> None:
    assert run.tally.sent == REQUESTS
    assert run.tally.by_status == {200: REQUESTS}, run.tally  # outages absorbed by failovers
    assert any(int(status) >= 500 for status in run.standard["by_status"]), run.standard
    assert run.heartbeat.exists()  # what the loadgen container's healthcheck reads


def test_the_traffic_lands_in_the_ledger(run: Run) -> None:
    db = sqlite3.connect(run.ledger)
    try:
        teams = dict(db.execute("SELECT team, count(key_id) FROM spend_log GROUP BY team"))
        routes = {r for (r,) in db.execute("SELECT DISTINCT policy FROM spend_log")}
        [(failed_over,)] = db.execute("SELECT count(*) FROM spend_log WHERE attempts > 1")
        [(streams,)] = db.execute("SELECT count(*) FROM spend_log WHERE stream")
    finally:
        db.close()
    assert set(teams) == set(loadgen.TEAMS)
    assert sum(teams.values()) == REQUESTS  # every row with its key's id
    assert routes == set(loadgen.ROUTES)
    assert failed_over > 0
    assert 0 < streams < REQUESTS


def _samples(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it has."""
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


def test_metrics_has_every_series_the_dashboards_read(run: Run) -> None:
    samples = _samples(run.metrics)
    read = set().union(*(prom_refs(q.text).metrics for q in queries() if q.uid == PROMETHEUS_UID))
    assert read, "no Prometheus query found"
    missing = sorted(read - set(samples))
    assert not missing, f"the dashboards read series /metrics does not have: {missing}"


def test_metrics_families_carry_the_contract_labels(run: Run) -> None:
    samples = _samples(run.metrics)
    for family, labels in CONTRACT.items():
        names = [f"{family}_bucket", f"{family}_count"] if family in HISTOGRAMS else [family]
        for name in names:
            assert samples.get(name), f"{name}: no sample after the traffic"
            extra = {"le"} if name.endswith("_bucket") else set()
            for got in samples[name]:
                assert set(got) == labels | extra, f"{name}: {sorted(got)}"


def test_metrics_agree_with_the_ledger(run: Run) -> None:
    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(run.metrics):
        for sample in family.samples:
            values.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    db = sqlite3.connect(run.ledger)
    try:
        [(rows, cost, failed_over)] = db.execute(
            "SELECT count(*), sum(CAST(cost_usd AS REAL)), sum(attempts > 1) FROM spend_log"
        )
    finally:
        db.close()
    requests = values["gateway_requests_total"]
    assert sum(v for _, v in requests) == rows == REQUESTS
    assert {labels["status"] for labels, _ in requests} == {"200"}
    assert sum(v for _, v in values["gateway_cost_usd_total"]) == pytest.approx(cost, rel=1e-6)
    assert sum(v for _, v in values["gateway_failovers_total"]) >= failed_over > 0
    assert values["gateway_database_up"] == [({}, 1.0)]
