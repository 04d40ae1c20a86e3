"""deploy/postgres/initdb's script, run as the postgres image runs it on a fresh database: the
role it makes for Grafana reads every table and view that `gateway migrate` creates afterwards,
and can change nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.schema import migrate
from tests.conftest import POSTGRES_URL
from tests.deploy.grafana import DEPLOY, POSTGRES_UID, queries, render_sql
from tests.deploy.test_dashboard_sql import SPAN

SCRIPT = DEPLOY / "postgres" / "initdb" / "10-grafana-reader.sh"


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, str]]:
    """A fresh database and a reader role name, both dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    name, reader = f"test_initdb_{suffix}", f"test_reader_{suffix}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield name, reader
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {reader}")
        await admin.close()


SERVER = urlsplit(POSTGRES_URL)
OWNER = SERVER.username or "postgres"  # as POSTGRES_USER in compose: the one that migrates


def _url(database: str, user: str) -> str:
    netloc = f"{user}@{SERVER.hostname}:{SERVER.port or 5432}"
    return urlunsplit(SERVER._replace(netloc=netloc, path=f"/{database}", query=""))


async def test_the_grafana_role_reads_the_ledger_and_writes_nothing(
    database: tuple[str, str],
) -> None:
    name, reader = database
    env = {
        **os.environ,
        "PGHOST": SERVER.hostname or "127.0.0.1",
        "PGPORT": str(SERVER.port or 5432),
        "POSTGRES_USER": OWNER,
        "POSTGRES_DB": name,
        "GRAFANA_DB_USER": reader,
        "GRAFANA_DB_PASSWORD": "reader-password",
    }
    script = await asyncio.create_subprocess_exec(
        "sh", str(SCRIPT), env=env, stdout=PIPE, stderr=PIPE
    )
    _, err = await asyncio.wait_for(script.communicate(), timeout=60)
    assert script.returncode == 0, err.decode()
    engine = create_engine(parse_database_url(_url(name, OWNER)))
    await migrate(engine)  # after the script, as in compose: default privileges must cover it
    await engine.dispose()
    conn = await asyncpg.connect(_url(name, reader))
    try:
        for relation in ("spend_log", "spend_daily", "provider_latency_daily", "teams"):
            assert await conn.fetchval(f"SELECT count(*) FROM {relation}") == 0, relation
        for q in queries():  # every dashboard query works with what the role may read
            if q.uid == POSTGRES_UID:
                await conn.fetch(render_sql(q.text, SPAN, {"team": ["search"]}))
        for statement in (
            "INSERT INTO teams (name, created_at, updated_at) VALUES ('x', now(), now())",
            "DELETE FROM spend_log",
            "DROP TABLE api_keys",
            "CREATE TABLE mine (id int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()
