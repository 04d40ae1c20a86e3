"""SpendRecord ↔ table row and ↔ one spool line (JSON), losslessly (Decimal and UTC kept exact)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway.ledger.record import SpendRecord

_FIELDS = {f.name for f in dataclasses.fields(SpendRecord)}


# spend_log's columns in the order every sink writes them (id is the database's).
COLUMNS = (
    "created_at",
    "request_id",
    "team",
    "key_id",
    "endpoint",
    "requested_model",
    "policy",
    "provider",
    "deployment",
    "upstream_model",
    "stream",
    "status_code",
    "error_type",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "cost_usd",
    "ttft_ms",
    "latency_ms",
    "tags",
)


def _same(value: str | None) -> str | None:
    return value


def row_values(
    rec: SpendRecord,
    *,
    created: object,
    cost: object,
    tags: object,
    text: Callable[[str | None], str | None] = _same,
) -> tuple[object, ...]:
    """One row in COLUMNS order. Each sink passes what its driver binds its own way: the time,
    the cost, the tags, and `text` for the strings a client chose (Postgres refuses NUL)."""
    return (
        created,
        text(rec.request_id),
        text(rec.team),
        rec.key_id,
        rec.endpoint,
        text(rec.requested_model),
        text(rec.policy),
        rec.provider,
        rec.deployment,
        rec.upstream_model,
        rec.stream,
        rec.status_code,
        rec.error_type,
        rec.attempts,
        rec.prompt_tokens,
        rec.completion_tokens,
        rec.cached_tokens,
        rec.reasoning_tokens,
        rec.cache_write_tokens,
        cost,
        rec.ttft_ms,
        rec.latency_ms,
        tags,
    )


def to_row(rec: SpendRecord) -> dict[str, Any]:
    """The spend_log columns of a record, by name (SQLAlchemy's insert)."""
    values = row_values(rec, created=utc(rec.created_at), cost=rec.cost_usd, tags=dict(rec.tags))
    return dict(zip(COLUMNS, values, strict=True))


def dumps(rec: SpendRecord) -> bytes:
    """One spool line, newline-terminated."""
    data = dataclasses.asdict(rec)
    data["created_at"] = utc(rec.created_at).isoformat()
    data["cost_usd"] = None if rec.cost_usd is None else str(rec.cost_usd)
    return orjson.dumps(data) + b"\n"


def loads(line: bytes) -> SpendRecord:
    data = orjson.loads(line)
    data = {k: v for k, v in data.items() if k in _FIELDS}  # tolerate a newer writer's fields
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    if data.get("cost_usd") is not None:
        data["cost_usd"] = Decimal(data["cost_usd"])
    return SpendRecord(**data)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
