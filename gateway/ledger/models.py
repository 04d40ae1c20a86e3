"""The `spend_log` table as SQLAlchemy 2 metadata (built by Alembic, used by writer and reports)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

metadata = MetaData()


class Money(TypeDecorator[Decimal]):
    """Exact USD: NUMERIC(18, 10) on Postgres; text on SQLite, which has no decimal type."""

    impl = Numeric(18, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(18, 10, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


spend_log = Table(
    "spend_log",
    metadata,
    # BIGINT identity on Postgres; INTEGER PRIMARY KEY (the rowid) on SQLite.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), Identity(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_id", Text, nullable=False),
    Column("team", Text),
    Column("key_id", Text),
    Column("endpoint", Text, nullable=False),
    Column("requested_model", Text, nullable=False),
    Column("policy", Text),
    Column("provider", Text),
    Column("deployment", Text),
    Column("upstream_model", Text),
    Column("stream", Boolean, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_type", Text),
    Column("attempts", Integer, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("cache_write_tokens", Integer, nullable=False, server_default="0"),
    Column("cost_usd", Money()),
    Column("ttft_ms", Double),
    Column("latency_ms", Double, nullable=False),
    Column("tags", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    # A primary or unique key of a partitioned table must contain the partition key (created_at).
    PrimaryKeyConstraint("id", "created_at", name="pk_spend_log"),
    # Idempotency key: a replayed row carries the created_at of its first attempt, so
    # (request_id, created_at) catches every duplicate that ON CONFLICT DO NOTHING must skip.
    UniqueConstraint("request_id", "created_at", name="uq_spend_log_request"),
    Index("ix_spend_log_provider_created_at", "provider", "created_at"),
    Index("ix_spend_log_team_created_at", "team", "created_at"),
)

COLUMNS: tuple[str, ...] = tuple(c.name for c in spend_log.columns if c.name != "id")
