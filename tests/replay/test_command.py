"""`gateway replay` through typer's CliRunner, on a Postgres schema and a SQLite file: the JSON
contract, the table, and one clear line (or file:line) for each mistake."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.schema import migrate
from tests.ledger.factories import NOW, record

PROVIDERS = """\
providers:
  a:
    base_url: http://127.0.0.1:9/v1
    models:
      m: {price: {input_per_mtok: 1.0, output_per_mtok: 1.0}}
  b:
    base_url: http://127.0.0.1:9/v1
    api_key_env: REPLAY_TEST_KEY_NOT_SET   # the replay calls no one: no key needed
    models:
      m: {price: {input_per_mtok: 0.5, output_per_mtok: 0.5}}
"""
CHEAPEST = "routes:\n  chat:\n    targets: [a/m, b/m]\n    strategy: cheapest\n"
WITH_SLO = CHEAPEST + "    slo: {ttft_ms: 500}\n"
runner = CliRunner()


async def seeded(url: str) -> None:
    """Ten requests served by a/m (10 + 5 tokens at 1 USD/Mtok), one 404, one too old."""
    engine = create_engine(parse_database_url(url))
    await migrate(engine)
    await engine.dispose()
    rows = [record(i, cost_usd=Decimal("0.000015")) for i in range(10)]
    rows.append(record(20, requested_model="nope", deployment=None, status_code=404))
    rows.append(record(21, created_at=NOW - timedelta(days=9)))
    sink = build_sink(parse_database_url(url))
    try:
        assert await sink.insert(rows) == 12
    finally:
        await sink.close()


def files(tmp_path: Path, policy: str = CHEAPEST) -> tuple[Path, Path]:
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    folder = tmp_path / "policies-new"
    folder.mkdir(exist_ok=True)
    (folder / "chat.yaml").write_text(policy)
    return tmp_path / "providers.yaml", folder


async def replay(url: str, *args: str) -> Result:
    env = {"GATEWAY_DATABASE_URL": url, "COLUMNS": "200"}
    return await asyncio.to_thread(runner.invoke, app, ["replay", *args], env=env)


async def test_json_has_actual_and_predicted_per_route(ledger_url: str, tmp_path: Path) -> None:
    await seeded(ledger_url)
    providers, policies = files(tmp_path)
    args = ("--policies", str(policies), "--providers", str(providers), "--format", "json")
    result = await replay(ledger_url, *args)
    assert result.exit_code == 0, result.stderr
    assert "replay: 10 served requests replayed; 1 unanswered" in result.stderr
    out: dict[str, Any] = orjson.loads(result.stdout)
    assert (out["since"], out["not_replayed"]) == ("7d", 1)
    assert out["routes"] == {
        "chat": {
            "actual": {
                "requests": 10,
                "cost_usd": 0.00015,
                "slo_attainment": None,  # the route declares no SLO
                "split": {"a/m": 1.0},
            },
            "predicted": {
                "requests": 10,
                "cost_usd": 0.000075,  # 10 x 15 tokens at 0.5 USD/Mtok
                "slo_attainment": None,
                "split": {"b/m": 1.0},
            },
            "unserved": 0,
            "unknown_latency": ["b/m"],  # never served, no typical_ttft_ms declared
        }
    }


async def test_table(ledger_url: str, tmp_path: Path) -> None:
    await seeded(ledger_url)
    providers, policies = files(tmp_path, WITH_SLO)
    result = await replay(ledger_url, "--policies", str(policies), "--providers", str(providers))
    assert result.exit_code == 0, result.stderr
    lines = [" ".join(line.replace("│", " ").split()) for line in result.stdout.splitlines()]
    # Every seeded request streamed or not in 100-109 ms, 10 ms to the first token: met.
    assert "chat actual 10 0.000150 100.0% a/m 100%" in lines
    assert "predicted 10 0.000075 -50.0% - b/m 100%" in lines  # b's latency was never seen
    assert any("latency unknown (not seen, none declared): b/m" in line for line in lines)
    assert "Replay of the last 7d under" in result.stdout


async def test_since_reaches_back_as_far_as_asked(ledger_url: str, tmp_path: Path) -> None:
    await seeded(ledger_url)
    providers, policies = files(tmp_path)
    args = ("--policies", str(policies), "--providers", str(providers), "--format", "json")
    result = await replay(ledger_url, *args, "--since", "10d")
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["routes"]["chat"]["actual"]["requests"] == 11


async def test_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    providers, policies = files(tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    await seeded(url)
    ok = ("--policies", str(policies), "--providers", str(providers))
    cases = [
        ((*ok, "--since", "7x"), "--since: '7x' is not a duration"),
        ((*ok, "--format", "xml"), "--format must be one of table, json"),
        (("--policies", str(tmp_path / "nowhere")), "not a folder"),
        (("--policies", str(policies), "--providers", str(tmp_path / "none.yaml")), "not found"),
    ]
    for args, message in cases:
        result = await replay(url, *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
    missing = await replay(f"sqlite:///{tmp_path / 'missing.db'}", *ok)
    assert missing.exit_code == 2 and "missing.db: no such file" in missing.stderr
    assert not (tmp_path / "missing.db").exists()  # not created by asking
    down = await replay("postgresql://postgres@127.0.0.1:1/test", *ok)
    assert down.exit_code == 2 and "error: ledger database postgresql+asyncpg://" in down.stderr
    (tmp_path / "empty.db").touch()  # a file, but no ledger in it
    empty = await replay(f"sqlite:///{tmp_path / 'empty.db'}", *ok)
    assert empty.exit_code == 2 and "empty.db: no such table: spend_log" in empty.stderr


async def test_policy_problems_are_listed_with_file_and_line(tmp_path: Path) -> None:
    bad = "routes:\n  chat:\n    targets: [a/m, nowhere/m]\n    strategy: cheapest\n"
    providers, policies = files(tmp_path, bad)
    result = await replay(
        f"sqlite:///{tmp_path / 'l.db'}", "--policies", str(policies), "--providers", str(providers)
    )
    assert result.exit_code == 2
    assert f"{policies / 'chat.yaml'}:3: routes.chat.targets.1: unknown target" in result.stderr
