"""Ledger database URLs: parse postgresql:// or sqlite:/// URLs, pick the driver, make engines.

Errors are one-line `LedgerConfigError`s that never repeat the URL (it may hold a password).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_SQLITE = "sqlite:///gateway.db"  # the embedded default: ./gateway.db
CONNECT_TIMEOUT_S = 5.0  # a dead database must be noticed quickly, then rows go to the spool

Dialect = Literal["postgresql", "sqlite"]
# A plain SQLite file URL, read without SQLAlchemy (~0.2 s to import): the embedded gateway's
# start-up does not need it. Anything else (a query string, a host) goes through make_url.
_PLAIN_SQLITE = re.compile(r"sqlite(?:\+\w+)?:///([^?]+)")


class LedgerConfigError(ValueError):
    """A bad ledger setting (database URL, schema): one clear line, no secrets."""


@dataclass(frozen=True, slots=True)
class Database:
    """Where the ledger lives: the SQLAlchemy URL (driver chosen) and asyncpg connect options."""

    address: str  # the SQLAlchemy URL, driver chosen, password included
    dialect: Dialect
    sqlite_path: str | None = None  # the file, for SQLite
    # asyncpg server settings from libpq's `options=-c key=value` (e.g. search_path).
    server_settings: dict[str, str] = field(default_factory=dict)
    ssl: str | None = None

    @property
    def url(self) -> URL:
        from sqlalchemy.engine import make_url  # not at import: see _PLAIN_SQLITE

        return make_url(self.address)

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def asyncpg_dsn(self) -> str:
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def asyncpg_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
        if self.server_settings:
            options["server_settings"] = dict(self.server_settings)
        if self.ssl is not None:
            options["ssl"] = self.ssl
        return options


def parse_database_url(raw: str | None) -> Database:
    """GATEWAY_DATABASE_URL → Database; unset means the embedded SQLite file ./gateway.db."""
    plain = _PLAIN_SQLITE.fullmatch(raw or DEFAULT_SQLITE)
    if plain and unquote(plain[1]) != ":memory:":
        return Database(f"sqlite+aiosqlite:///{plain[1]}", "sqlite", unquote(plain[1]))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw or DEFAULT_SQLITE)
    except ArgumentError:
        raise LedgerConfigError(
            "GATEWAY_DATABASE_URL is not a valid URL (expected postgresql://... or sqlite:///...)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg", "psycopg", "psycopg2"):
            raise LedgerConfigError(f"GATEWAY_DATABASE_URL: unsupported Postgres driver '{driver}'")
        return _postgres(url)
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise LedgerConfigError(
                "GATEWAY_DATABASE_URL: SQLite needs a file path (sqlite:///path/to/gateway.db)"
            )
        url = url.set(drivername="sqlite+aiosqlite")
        return Database(url.render_as_string(hide_password=False), "sqlite", url.database)
    raise LedgerConfigError(
        f"GATEWAY_DATABASE_URL: unsupported database '{backend}' (use postgresql:// or sqlite:///)"
    )


def _postgres(url: URL) -> Database:
    query = dict(url.query)
    settings: dict[str, str] = {}
    options = query.pop("options", None)
    for word in _words(options):
        # libpq style: "-c search_path=ledger -c statement_timeout=5000"
        key, sep, value = word.removeprefix("-c").strip().partition("=")
        if not sep or not key:
            raise LedgerConfigError("GATEWAY_DATABASE_URL: 'options' must be '-c name=value' pairs")
        settings[key.strip()] = value.strip()
    ssl = query.pop("sslmode", None)
    if isinstance(ssl, tuple):
        ssl = ssl[-1]
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return Database(url.render_as_string(hide_password=False), "postgresql", None, settings, ssl)


def _words(options: str | tuple[str, ...] | None) -> list[str]:
    if options is None:
        return []
    text = " ".join(options) if isinstance(options, tuple) else options
    text = unquote(text).replace("-c ", "-c")
    return [w for w in text.split() if w]


def create_engine(db: Database) -> AsyncEngine:
    """Engine for migrations, reports and the SQLite writer (Postgres bulk writes use asyncpg)."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    if db.dialect == "sqlite":
        engine = create_async_engine(db.url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(db.url, connect_args=db.asyncpg_options(), pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: `gateway spend` and dashboards read while the gateway writes; several workers can write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class LazyEngine:
    """An engine made on first use: the status page's reader of the ledger, which most gateways
    never open (and SQLAlchemy stays unimported until then)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_engine(self._db)
        return self._engine

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
