"""Ledger database URLs: parse postgresql:// or sqlite:/// URLs, pick the driver, make engines.

Errors are one-line `LedgerConfigError`s that never repeat the URL (it may hold a password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_SQLITE = "sqlite:///gateway.db"  # the embedded default: ./gateway.db
CONNECT_TIMEOUT_S = 5.0  # a dead database must be noticed quickly, then rows go to the spool

Dialect = Literal["postgresql", "sqlite"]


class LedgerConfigError(ValueError):
    """A bad ledger setting (database URL, schema): one clear line, no secrets."""


@dataclass(frozen=True, slots=True)
class Database:
    """Where the ledger lives: the SQLAlchemy URL (driver chosen) and asyncpg connect options."""

    url: URL
    # asyncpg server settings from libpq's `options=-c key=value` (e.g. search_path).
    server_settings: dict[str, str] = field(default_factory=dict)
    ssl: str | None = None

    @property
    def dialect(self) -> Dialect:
        return "postgresql" if self.url.get_backend_name() == "postgresql" else "sqlite"

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
        return Database(url.set(drivername="sqlite+aiosqlite"))
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
    return Database(url, settings, ssl)


def _words(options: str | tuple[str, ...] | None) -> list[str]:
    if options is None:
        return []
    text = " ".join(options) if isinstance(options, tuple) else options
    text = unquote(text).replace("-c ", "-c")
    return [w for w in text.split() if w]


def create_engine(db: Database) -> AsyncEngine:
    """Engine for migrations, reports and the SQLite writer (Postgres bulk writes use asyncpg)."""
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
