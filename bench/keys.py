"""The auth-on targets: a `gw-` key minted in the gateway's own SQLite file before it starts.

- `gateway-auth`: auth on, the clients send `Authorization: Bearer gw-...` for a key of a team
  with no limits: the key is looked up in the gateway's in-memory key directory, no reservation.
- `gateway-auth-budget`: the same, the team with a daily USD budget and a requests-per-minute
  limit far above anything the benchmark sends: every request is reserved against both (in
  memory, as the `gateway` target's state) and settled after the reply, and none is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import uvloop

from gateway.tenancy.store import KeyStore

AUTH = "gateway-auth"
AUTH_BUDGET = "gateway-auth-budget"
TEAM = "bench"
RPM = 1_000_000_000  # ~16.7 M requests/s over the sliding minute: never reached
BUDGET_USD_DAY = Decimal(1_000_000)  # the simulator's price is ~$0.00005 a request


@dataclass(frozen=True, slots=True)
class Minted:
    serve_args: list[str]  # for `bench.serve gateway`: auth on, this database
    headers: str  # what the clients send: the key, as one CRLF-terminated header line


def mint(home: Path, *, limits: bool) -> Minted:
    """A key (and with `limits`, its team's budget and rpm) in `home`/gateway.db, the SQLite
    file of the gateway that will run in `home`; the schema is migrated first."""
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(home / 'gateway.db').resolve()}"
    key = uvloop.run(_create(url, limits))
    return Minted(["--auth", "--database-url", url], f"authorization: Bearer {key}\r\n")


async def _create(url: str, limits: bool) -> str:
    store = await KeyStore.open(url, migrate=True)
    try:
        if limits:
            await store.create_team(TEAM, rpm=RPM, budget_usd_day=BUDGET_USD_DAY)
        _, key = await store.create_key(TEAM, name="bench")
    finally:
        await store.close()
    return key
