"""The `teams`, `api_keys` and `tenancy_version` tables, on the ledger's metadata (migration 0003).

`tenancy_version` is one row whose counter every mutation of a key or a team increments in the
same transaction: replicas poll it (with the tables' latest updated_at) to refresh their caches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from gateway.ledger.models import Money, metadata


class UtcDateTime(TypeDecorator[datetime]):
    """TIMESTAMPTZ on Postgres; on SQLite (no time zones) naive UTC text, read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return utc(value).replace(tzinfo=None) if dialect.name == "sqlite" else utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _models() -> JSON:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _limits() -> list[Column[Any]]:
    return [
        Column("models", _models()),  # allow-list; NULL: every model
        Column("rpm", Integer),
        Column("tpm", Integer),
        Column("budget_usd_day", Money()),
        Column("budget_usd_month", Money()),
    ]


teams = Table(
    "teams",
    metadata,
    Column("name", Text, primary_key=True),
    *_limits(),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("prefix", Text, nullable=False),  # the key's first 12 characters
    Column("key_hash", Text, nullable=False),  # sha256 hex; never the key
    Column("team", Text, nullable=False),
    Column("name", Text),
    *_limits(),
    Column("expires_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    ForeignKeyConstraint(["team"], ["teams.name"], name="fk_api_keys_team"),
    Index("ix_api_keys_team", "team"),
    Index("ix_api_keys_updated_at", "updated_at"),
)

tenancy_version = Table(
    "tenancy_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)
