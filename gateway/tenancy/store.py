"""KeyStore: API keys and teams in the ledger's database (Postgres or the embedded SQLite).

Every mutation of a key or a team increments `tenancy_version` in its own transaction, so
`version()` (one cheap query) tells a replica when to reload `active_keys()` and `list_teams()`.
`touch()` (last use) is not a mutation: it changes no version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.tenancy.keys import (
    KEY_FIELDS,
    KEY_PREFIX,
    LIMIT_FIELDS,
    PREFIX_LEN,
    Budget,
    KeyFields,
    KeyRecord,
    Limits,
    TeamRecord,
    check_limits,
    check_name,
    check_team,
    key_hash,
    new_key,
    new_key_id,
    prefix_of,
)
from gateway.tenancy.tables import api_keys, teams, tenancy_version, utc

_TOUCH_BATCH = 500
_MINT_ATTEMPTS = 3  # a new key's 12-character prefix colliding with another: mint again


class TeamExists(Exception):
    """create_team: a team of that name is already there."""


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    async def open(cls, database_url: str | None, *, migrate: bool = False) -> KeyStore:
        """A store on GATEWAY_DATABASE_URL's database (None: the ledger's SQLite file).
        `migrate`: apply pending migrations first (the CLI does it for the embedded SQLite)."""
        from gateway.ledger.database import create_engine, parse_database_url
        from gateway.ledger.schema import migrate as migrate_schema

        engine = create_engine(parse_database_url(database_url))
        if migrate:
            try:
                await migrate_schema(engine)
            except BaseException:
                await engine.dispose()
                raise
        return cls(engine)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def close(self) -> None:
        await self._engine.dispose()

    # Keys

    async def create_key(
        self,
        team: str,
        *,
        name: str | None = None,
        models: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd_day: Budget = None,
        budget_usd_month: Budget = None,
        expires_in: timedelta | None = None,
    ) -> tuple[KeyRecord, str]:
        """A new key for `team` (created, without limits, if missing): (its record, the key).
        The key is returned here only; the database keeps its sha256 and prefix."""
        team = check_team(team)
        limits = check_limits(
            {
                "models": models,
                "rpm": rpm,
                "tpm": tpm,
                "budget_usd_day": budget_usd_day,
                "budget_usd_month": budget_usd_month,
            }
        )
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        now = _now()
        row = {
            "team": team,
            "name": None if name is None else check_name(name, "name"),
            **limits,
            "expires_at": None if expires_in is None else now + expires_in,
            "created_at": now,
            "updated_at": now,
        }
        for attempt in range(_MINT_ATTEMPTS):
            key = new_key()
            row |= {"id": new_key_id(), "prefix": prefix_of(key), "key_hash": key_hash(key)}
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(_team_if_missing(conn, team, now))
                    await conn.execute(insert(api_keys).values(row))
                    await _bump(conn)
            except IntegrityError:
                if attempt == _MINT_ATTEMPTS - 1:
                    raise
                continue
            return _key_record(row), key
        raise AssertionError("unreachable")

    async def list_keys(self, team: str | None = None) -> list[KeyRecord]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if team is not None and not _plausible(team):
            return []
        if team is not None:
            query = query.where(api_keys.c.team == team)
        async with self._engine.connect() as conn:
            return [_key_record(r._mapping) for r in await conn.execute(query)]

    async def get_key(self, id_or_prefix: str) -> KeyRecord | None:
        """By id (`key_…`), prefix (`gw-` + 9 characters) or the whole key."""
        if not _plausible(id_or_prefix):
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(_match(id_or_prefix)))).first()
        return None if row is None else _key_record(row._mapping)

    async def revoke(self, id_or_prefix: str) -> KeyRecord | None:
        """Revoke now; a key revoked before keeps its revoked_at. None: no such key."""
        now = _now()
        if not _plausible(id_or_prefix):
            return None
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(_match(id_or_prefix), api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now)
            )
            if result.rowcount:
                await _bump(conn)
        return await self.get_key(id_or_prefix)

    async def update_key(self, id_or_prefix: str, **fields: Unpack[KeyFields]) -> KeyRecord | None:
        """Set the given fields (None clears one: no limit, no expiry). None: no such key."""
        values = _key_values(fields)
        if not _plausible(id_or_prefix):
            return None
        if values:
            values["updated_at"] = _now()
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(api_keys).where(_match(id_or_prefix)).values(values)
                )
                if result.rowcount:
                    await _bump(conn)
        return await self.get_key(id_or_prefix)

    async def active_keys(self, *, now: datetime | None = None) -> dict[str, KeyRecord]:
        """key_hash → record of every key neither revoked nor expired (what requests check)."""
        moment = utc(now) if now is not None else _now()
        query = select(api_keys).where(api_keys.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
        records = ((row["key_hash"], _key_record(row)) for row in rows)
        return {h: rec for h, rec in records if rec.is_active(moment)}

    async def version(self) -> str:
        """Changes with every mutation of a key or a team (and any row edit that sets updated_at).
        An expiry changes nothing here: the request path checks `expires_at` itself."""
        query = select(
            select(tenancy_version.c.version).where(tenancy_version.c.id == 1).scalar_subquery(),
            select(api_keys.c.updated_at)
            .order_by(api_keys.c.updated_at.desc())
            .limit(1)
            .scalar_subquery(),
            select(teams.c.updated_at)
            .order_by(teams.c.updated_at.desc())
            .limit(1)
            .scalar_subquery(),
        )
        async with self._engine.connect() as conn:
            counter, keys_at, teams_at = (await conn.execute(query)).one()
        return f"{counter}/{_stamp(keys_at)}/{_stamp(teams_at)}"

    async def touch(self, ids: Iterable[str], at: datetime) -> None:
        """Record last use (never moving it back), in batches; not a mutation for version()."""
        unique = sorted(set(ids))
        if not unique:
            return
        at = utc(at)
        async with self._engine.begin() as conn:
            for start in range(0, len(unique), _TOUCH_BATCH):
                chunk = unique[start : start + _TOUCH_BATCH]
                await conn.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.id.in_(chunk),
                        or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < at),
                    )
                    .values(last_used_at=at)
                )

    # Teams

    async def create_team(self, name: str, **limits: Unpack[Limits]) -> TeamRecord:
        """A new team with these limits; TeamExists when the name is taken."""
        name = check_team(name)
        values = check_limits({k: limits.get(k) for k in LIMIT_FIELDS})
        now = _now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(teams).values(name=name, created_at=now, updated_at=now, **values)
                )
                await _bump(conn)
        except IntegrityError:
            raise TeamExists(f"team '{name}' already exists") from None
        return _team_record({"name": name, **values})

    async def update_team(self, name: str, **limits: Unpack[Limits]) -> TeamRecord | None:
        """Set the given limits (None clears one). None: no such team."""
        _only(limits, LIMIT_FIELDS)
        values = check_limits(limits)
        if not _plausible(name):
            return None
        if values:
            values["updated_at"] = _now()
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(teams).where(teams.c.name == name).values(values)
                )
                if result.rowcount:
                    await _bump(conn)
        return await self.get_team(name)

    async def get_team(self, name: str) -> TeamRecord | None:
        if not _plausible(name):
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(teams).where(teams.c.name == name))).first()
        return None if row is None else _team_record(row._mapping)

    async def list_teams(self) -> list[TeamRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(teams).order_by(teams.c.name))
            return [_team_record(r._mapping) for r in rows]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime | None) -> str:
    return "-" if moment is None else utc(moment).isoformat()


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(
        update(tenancy_version)
        .where(tenancy_version.c.id == 1)
        .values(version=tenancy_version.c.version + 1)
    )


def _team_if_missing(conn: AsyncConnection, team: str, now: datetime) -> Any:
    """INSERT the team without limits unless it exists (concurrent creators race safely)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(teams)
        .values(name=team, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )


def _plausible(ident: str) -> bool:
    """Could this name a row? (A NUL or a control character never does; Postgres refuses them.)"""
    return 0 < len(ident) <= 1024 and ident.isprintable()


def _match(id_or_prefix: str) -> ColumnElement[bool]:
    if id_or_prefix.startswith(KEY_PREFIX) and len(id_or_prefix) > PREFIX_LEN:
        return api_keys.c.key_hash == key_hash(id_or_prefix)  # the whole key
    return or_(api_keys.c.id == id_or_prefix, api_keys.c.prefix == id_or_prefix)


def _only(fields: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")


def _key_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    _only(fields, KEY_FIELDS)
    values = check_limits(fields)
    if "name" in fields:
        values["name"] = None if fields["name"] is None else check_name(fields["name"], "name")
    if "expires_at" in fields:
        expires = fields["expires_at"]
        values["expires_at"] = None if expires is None else utc(expires)
    return values


def _models(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _team_record(row: Mapping[Any, Any]) -> TeamRecord:
    return TeamRecord(
        name=row["name"],
        models=_models(row.get("models")),
        rpm=row.get("rpm"),
        tpm=row.get("tpm"),
        budget_usd_day=row.get("budget_usd_day"),
        budget_usd_month=row.get("budget_usd_month"),
    )


def _key_record(row: Mapping[Any, Any]) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        prefix=row["prefix"],
        team=row["team"],
        name=row.get("name"),
        models=_models(row.get("models")),
        rpm=row.get("rpm"),
        tpm=row.get("tpm"),
        budget_usd_day=row.get("budget_usd_day"),
        budget_usd_month=row.get("budget_usd_month"),
        expires_at=row.get("expires_at"),
        revoked_at=row.get("revoked_at"),
        created_at=row["created_at"],
        last_used_at=row.get("last_used_at"),
    )
