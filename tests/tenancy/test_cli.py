"""`gateway keys` and `gateway teams` through typer's CliRunner, on Postgres and SQLite.

The commands run asyncio.run themselves, so the runner runs in a thread of its own."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
import pytest
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.schema import migrate
from tests.ledger.factories import is_postgres

runner = CliRunner()


async def gateway(url: str, *args: str) -> Result:
    env = {"GATEWAY_DATABASE_URL": url, "COLUMNS": "250"}
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


@pytest.fixture
async def db(ledger_url: str) -> str:
    """Postgres is migrated by `gateway migrate` (the CLI never migrates it by itself)."""
    if is_postgres(ledger_url):
        engine = create_engine(parse_database_url(ledger_url))
        await migrate(engine)
        await engine.dispose()
    return ledger_url


async def test_create_prints_the_key_once_on_its_own_line(db: str) -> None:
    made = await gateway(
        db, "keys", "create", "--team", "acme", "--name", "ci", "--models", "a,b",
        "--rpm", "60", "--tpm", "5000", "--budget-usd-day", "2.5",
        "--budget-usd-month", "50", "--expires", "30d",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gw-") and len(lines[0]) == 46
    key = lines[0]
    assert made.output.count(key) == 1
    assert f"prefix: {key[:12]}" in made.stderr and "id: key_" in made.stderr
    key_id = made.stderr.split("id: ")[1].split()[0]

    listed = await gateway(db, "keys", "list")
    assert listed.exit_code == 0, listed.output
    for shown in (key_id, key[:12], "acme", "ci", "a,b", "60 rpm", "5000 tpm", "$2.5 / $50"):
        assert shown in listed.stdout
    as_json = await gateway(db, "keys", "list", "--format", "json", "--team", "acme")
    (item,) = orjson.loads(as_json.stdout)
    assert item["id"] == key_id and item["prefix"] == key[:12] and item["models"] == ["a", "b"]
    assert item["budget_usd_day"] == 2.5 and item["spend_usd"] == {"day": 0.0, "month": 0.0}
    digest = hashlib.sha256(key.encode()).hexdigest()
    for out in (listed.output, as_json.output):
        assert key not in out and key[12:20] not in out and digest not in out
    assert orjson.loads((await gateway(db, "keys", "list", "--format", "json",
                                       "--team", "other")).stdout) == []  # fmt: skip


async def test_revoke_and_update(db: str) -> None:
    made = await gateway(db, "keys", "create", "--team", "acme")
    prefix = made.stdout.strip()[:12]
    updated = await gateway(db, "keys", "update", prefix, "--rpm", "7", "--name", "bot")
    assert updated.exit_code == 0 and "updated key_" in updated.stdout
    cleared = await gateway(db, "keys", "update", prefix, "--clear", "rpm,budget-usd-day")
    assert cleared.exit_code == 0, cleared.output
    (item,) = orjson.loads((await gateway(db, "keys", "list", "--format", "json")).stdout)
    assert item["rpm"] is None and item["name"] == "bot"
    revoked = await gateway(db, "keys", "revoke", prefix)
    assert revoked.exit_code == 0 and f"revoked {item['id']} ({prefix}" in revoked.stdout
    (item,) = orjson.loads((await gateway(db, "keys", "list", "--format", "json")).stdout)
    assert item["revoked_at"] is not None

    unknown = await gateway(db, "keys", "revoke", "gw-nope")
    assert unknown.exit_code == 1 and "no key 'gw-nope'" in unknown.stderr
    leaked = "gw-" + "Q" * 43  # a whole key: named by its prefix only, never echoed
    unknown = await gateway(db, "keys", "revoke", leaked)
    assert (
        unknown.exit_code == 1
        and leaked not in unknown.output
        and "gw-QQQQQQQQQ…" in unknown.stderr
    )
    unknown = await gateway(db, "keys", "update", "key_000000000000", "--rpm", "1")
    assert unknown.exit_code == 1 and "no key" in unknown.stderr
    nothing = await gateway(db, "keys", "update", prefix)
    assert nothing.exit_code == 2 and "nothing to update" in nothing.stderr
    bad = await gateway(db, "keys", "update", prefix, "--clear", "team")
    assert bad.exit_code == 2 and "--clear: unknown field 'team'" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "soon"], "--expires: 'soon' is not a duration"),
        (["--rpm", "0"], "rpm must be a whole number"),
        (["--budget-usd-day", "lots"], "budget_usd_day must be a number of USD"),
        (["--models", " , "], "models must name at least one model"),
    ],
)
async def test_bad_flags_are_one_line_errors(db: str, args: list[str], message: str) -> None:
    result = await gateway(db, "keys", "create", "--team", "acme", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


async def test_teams(db: str) -> None:
    made = await gateway(db, "teams", "create", "acme", "--rpm", "100", "--budget-usd-day", "10")
    assert made.exit_code == 0 and "created team acme" in made.stdout
    again = await gateway(db, "teams", "create", "--team", "acme")
    assert again.exit_code == 1 and "team 'acme' already exists" in again.stderr
    assert (await gateway(db, "teams", "create", "--name", "beta", "--models", "x")).exit_code == 0
    updated = await gateway(db, "teams", "update", "acme", "--tpm", "900", "--clear", "rpm")
    assert updated.exit_code == 0, updated.output
    await gateway(db, "keys", "create", "--team", "acme")
    listed = await gateway(db, "teams", "list")
    assert "acme" in listed.stdout and "900 tpm" in listed.stdout and "$10 / -" in listed.stdout
    teams = orjson.loads((await gateway(db, "teams", "list", "--format", "json")).stdout)
    assert [(t["name"], t["rpm"], t["tpm"], t["models"]) for t in teams] == [
        ("acme", None, 900, None),
        ("beta", None, None, ["x"]),
    ]
    unknown = await gateway(db, "teams", "update", "nobody", "--rpm", "1")
    assert unknown.exit_code == 1 and "no team 'nobody'" in unknown.stderr
    nameless = await gateway(db, "teams", "create")
    assert nameless.exit_code == 2 and "which team?" in nameless.stderr


async def test_database_url_option_and_an_unmigrated_postgres(ledger_url: str) -> None:
    made = await asyncio.to_thread(
        runner.invoke,
        app,
        ["keys", "--database-url", ledger_url, "create", "--team", "acme"],
        env={"GATEWAY_DATABASE_URL": "sqlite:////nonexistent/dir/x.db"},
    )
    if is_postgres(ledger_url):  # not migrated: one line saying what to run
        assert made.exit_code == 2 and "gateway migrate" in made.stderr
    else:  # the embedded SQLite file migrates itself, like the ledger
        assert made.exit_code == 0 and made.stdout.startswith("gw-")
