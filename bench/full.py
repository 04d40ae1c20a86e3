"""The full production path of the `gateway-full*` targets: Redis state, auth with a cached
`gw-` key whose team has a budget and an rpm limit (never reached), the ledger and the keys in
Postgres. Each process gets a Redis key prefix and a Postgres schema of its own, unique to the
run, removed at the end (`Resources.close`), also after an error or Ctrl-C.

The key is minted by the code of the tree the gateway runs from (a subprocess with that tree
first on PYTHONPATH), so that an older commit (`--baseline`) migrates the schema to its own
revision, as its gateway expects.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench import keys
from bench.procs import child_env

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1/test"

# Run in the gateway's own tree: migrate the schema, make the team (with limits) and its key.
_MINT = """
import asyncio, sys
from decimal import Decimal
from gateway.tenancy.store import KeyStore

async def main(url: str, limits: bool) -> None:
    store = await KeyStore.open(url, migrate=True)
    try:
        if limits:
            await store.create_team("{team}", rpm={rpm}, budget_usd_day=Decimal({budget}))
        _, key = await store.create_key("{team}", name="bench")
    finally:
        await store.close()
    print(key)

asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
"""


def mint_in(tree: Path | None, url: str, *, limits: bool) -> str:
    """A new `gw-` key in the database at `url` (migrated first), by `tree`'s code."""
    code = _MINT.format(team=keys.TEAM, rpm=keys.RPM, budget=int(keys.BUDGET_USD_DAY))
    env = child_env() if tree is None else child_env(str(tree))
    out = subprocess.run(
        [sys.executable, "-c", code, url, "1" if limits else "0"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"minting a key in {url} failed: {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Resources:
    """The run's Postgres schemas (made by `schema_url`, dropped by `close`)."""

    postgres: str = DEFAULT_POSTGRES
    run: str = field(default_factory=lambda: f"gwbench_{os.getpid()}")
    schemas: list[str] = field(default_factory=list)

    def check(self) -> None:
        asyncio.run(self._execute("SELECT 1"))

    def schema_url(self, name: str) -> str:
        """A new empty schema for the process `name`; the URL that selects it."""
        schema = f"{self.run}_{len(self.schemas)}"
        asyncio.run(self._execute(f"CREATE SCHEMA {schema}"))
        self.schemas.append(schema)
        return f"{self.postgres}?options=-csearch_path%3D{schema}"

    def close(self) -> None:
        for schema in self.schemas:
            try:
                asyncio.run(self._execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            except (OSError, asyncpg.PostgresError) as exc:
                print(f"warning: could not drop schema {schema}: {exc}", file=sys.stderr)
        self.schemas.clear()

    async def _execute(self, sql: str) -> None:
        try:
            conn = await asyncpg.connect(self.postgres, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise RuntimeError(
                f"the gateway-full targets need a Postgres at {self.postgres} ({exc}); "
                "pass --postgres-url or leave them out of --targets"
            ) from exc
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@dataclass(frozen=True, slots=True)
class Setup:
    serve_args: list[str]  # appended to `bench.serve gateway ...`
    headers: str  # the key, as one CRLF-terminated header line
    env: dict[str, str]  # the same settings as GATEWAY_* (for `gateway serve`)


def setup(
    resources: Resources,
    name: str,
    *,
    redis_url: str,
    redis_prefix: str,
    tree: Path | None = None,
) -> Setup:
    """Redis under `redis_prefix`, a fresh Postgres schema with a budgeted key, auth on."""
    url = resources.schema_url(name)
    key = mint_in(tree, url, limits=True)
    args = ["--redis-url", redis_url, "--redis-prefix", redis_prefix]
    args += ["--auth", "--database-url", url]
    env = {
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_REDIS_PREFIX": redis_prefix,
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_AUTH": "true",
    }
    return Setup(args, f"authorization: Bearer {key}\r\n", env)
