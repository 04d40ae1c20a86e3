"""Every active key in memory, by hash: the request path never queries the database for a key.

A background loop asks the store's `version()` every REFRESH_S (one cheap query) and reloads
the keys and teams when it changed, so a key created, updated or revoked through any replica
(CLI, admin API) is honoured or refused by every replica within about a second. Expiry is
checked on each lookup against the clock (it changes no version). A database that is down
keeps the last loaded keys serving (a revocation then waits for it, said in the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.core.caller import Allowance, Caller
from gateway.tenancy.keys import KeyRecord, TeamRecord, key_hash

if TYPE_CHECKING:
    from gateway.tenancy.store import KeyStore  # SQLAlchemy: imported by whoever opens one

log = logging.getLogger("gateway.keys")
REFRESH_S = 0.5


class KeyDirectory:
    def __init__(
        self,
        store: KeyStore,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._clock = clock
        self._keys: dict[str, KeyRecord] = {}
        self._teams: dict[str, TeamRecord] = {}
        # Callers built once per active key (by hash) and version: no per-request allocations.
        # Bounded by the active keys: only a key found in _keys is ever cached.
        self._callers: dict[str, Caller] = {}
        self._version: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def caller(self, key: str) -> Caller | None:
        """The caller a `gw-` key stands for (its team, and the models its key, else its team,
        allows); None for an unknown, revoked or expired key."""
        if not key.startswith("gw-"):
            return None
        digest = key_hash(key)
        record = self._keys.get(digest)
        if record is None or not record.is_active(self._clock()):
            return None
        caller = self._callers.get(digest)
        if caller is None:
            caller = self._callers[digest] = self._build(record)
        return caller

    def _build(self, record: KeyRecord) -> Caller:
        team = self._teams.get(record.team)
        models = record.models if record.models is not None else team.models if team else None
        levels = [_allowance(f"key:{record.id}", record.team, record)]
        if team is not None:
            levels.append(_allowance(f"team:{team.name}", record.team, team))
        allowances = tuple(a for a in levels if a is not None)
        return Caller(
            team=record.team,
            key_id=record.id,
            models=models,
            allowances=allowances,
            key_prefix=record.prefix,
        )

    def budgets(self) -> list[Allowance]:
        """The teams that have a daily or monthly budget (for /metrics)."""
        out = (_allowance(f"team:{t.name}", t.name, t) for t in self._teams.values())
        return [a for a in out if a and (a.usd_day is not None or a.usd_month is not None)]

    async def refresh(self) -> None:
        """Reload when the store's version moved (any replica's change)."""
        version = await self._store.version()
        if version == self._version:
            return
        keys = await self._store.active_keys(now=self._clock())
        teams = {t.name: t for t in await self._store.list_teams()}
        self._keys, self._teams, self._version = keys, teams, version
        self._callers = {}

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # the loop outlives a database outage
                if not self._failing:
                    log.warning(
                        "key directory: cannot reach the database (%s): serving the "
                        "keys last loaded; revocations wait for it",
                        type(exc).__name__,
                    )
                self._failing = True
                continue
            if self._failing:
                log.warning("key directory: the database is back")
                self._failing = False


def _allowance(scope: str, team: str, limits: KeyRecord | TeamRecord) -> Allowance | None:
    """The limits a key or team sets, or None when it sets none (nothing to count)."""
    caps = (limits.rpm, limits.tpm, limits.budget_usd_day, limits.budget_usd_month)
    if all(c is None for c in caps):
        return None
    return Allowance(scope, team, *caps)
