"""`gateway spend --by key` (and --by team) on Postgres and SQLite: each key's id with its public
prefix and name from api_keys, never its hash; requests without a key as one "(no key)" line."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ledger.report import SpendLine, spend_by
from tests.ledger.factories import NOW, record
from tests.ledger.seed import seed
from tests.ledger.tenants import add, key, team

D = Decimal


async def seed_keys(url: str, engine: AsyncEngine) -> None:
    """The seeded history (no key: 7 requests, 100 tokens, 0.0012 USD) and four keys' requests."""
    await seed(url)
    ci, ads, tie = "key_aaaaaaaaa", "key_bbbbbbbbb", "key_ccccccccc"
    await add(
        engine,
        [team("search"), team("ads")],
        [
            key("aaaaaaaaa", "search", "ci"),
            key("bbbbbbbbb", "ads"),
            key("ccccccccc", "search", "tie"),
        ],
        [
            record(300, key_id=ci, cost_usd=D("0.002")),
            record(301, key_id=ci, cost_usd=D("0.002")),
            record(302, key_id=ci, created_at=NOW - timedelta(days=10), cost_usd=D(5)),  # too old
            record(303, key_id=ads, team="ads", cost_usd=D("0.0005")),
            record(304, key_id=tie, cost_usd=D("0.0012")),  # as much as no key: sorted first
            record(305, key_id="key_gone", cost_usd=D("0.0001")),  # not in api_keys
        ],
    )


async def test_spend_by_key(ledger_url: str, engine: AsyncEngine) -> None:
    await seed_keys(ledger_url, engine)
    assert await spend_by(engine, "key", timedelta(days=7)) == [
        SpendLine("key_aaaaaaaaa", 2, 30, D("0.004"), prefix="gw-aaaaaaaaa", name="ci"),
        SpendLine("key_ccccccccc", 1, 15, D("0.0012"), prefix="gw-ccccccccc", name="tie"),
        SpendLine(None, 7, 100, D("0.0012")),
        SpendLine("key_bbbbbbbbb", 1, 15, D("0.0005"), prefix="gw-bbbbbbbbb"),
        SpendLine("key_gone", 1, 15, D("0.0001")),
    ]
    # The key that spent 5 USD ten days ago did, in a window that reaches that far.
    old = await spend_by(engine, "key", timedelta(days=11))
    assert old[0] == SpendLine("key_aaaaaaaaa", 3, 45, D("5.004"), "gw-aaaaaaaaa", "ci")


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of a rich table (title, rules and header skipped)."""
    lines = [line for line in output.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines]


async def gateway_spend(url: str, *args: str) -> tuple[int, str]:
    env = {"GATEWAY_DATABASE_URL": url, "COLUMNS": "250"}
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, ["spend", *args], env=env)
    return result.exit_code, result.output


async def test_gateway_spend_by_key_and_team(ledger_url: str, engine: AsyncEngine) -> None:
    await seed_keys(ledger_url, engine)
    code, out = await gateway_spend(ledger_url, "--by", "key", "--since", "7d")
    assert code == 0, out
    assert "key id" in out and "prefix" in out
    assert table_rows(out) == [
        ["key_aaaaaaaaa", "gw-aaaaaaaaa", "ci", "2", "30", "0.004000"],
        ["key_ccccccccc", "gw-ccccccccc", "tie", "1", "15", "0.001200"],
        ["(no key)", "", "", "7", "100", "0.001200"],
        ["key_bbbbbbbbb", "gw-bbbbbbbbb", "", "1", "15", "0.000500"],
        ["key_gone", "-", "", "1", "15", "0.000100"],
        ["total", "", "", "12", "", "0.007000"],
    ]
    assert "hash-" not in out  # the stored hash is never read, let alone shown
    code, out = await gateway_spend(ledger_url, "--by", "team")
    assert code == 0, out
    assert table_rows(out) == [
        ["search", "8", "120", "0.005700"],
        ["ads", "3", "55", "0.001300"],
        ["-", "1", "0", "0.000000"],
        ["total", "12", "", "0.007000"],
    ]


async def test_gateway_spend_by_something_else(ledger_url: str, engine: AsyncEngine) -> None:
    code, out = await gateway_spend(ledger_url, "--by", "secret")
    assert code == 2
    assert "--by must be one of team, key, provider, model" in out
