"""SpendRecord ↔ table row and ↔ one spool line (JSON), losslessly (Decimal and UTC kept exact)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway.ledger.record import SpendRecord

_FIELDS = {f.name for f in dataclasses.fields(SpendRecord)}


def to_row(rec: SpendRecord) -> dict[str, Any]:
    """The spend_log columns of a record (id is the database's)."""
    return {
        "created_at": utc(rec.created_at),
        "request_id": rec.request_id,
        "team": rec.team,
        "key_id": rec.key_id,
        "endpoint": rec.endpoint,
        "requested_model": rec.requested_model,
        "policy": rec.policy,
        "provider": rec.provider,
        "deployment": rec.deployment,
        "upstream_model": rec.upstream_model,
        "stream": rec.stream,
        "status_code": rec.status_code,
        "error_type": rec.error_type,
        "attempts": rec.attempts,
        "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens,
        "cached_tokens": rec.cached_tokens,
        "reasoning_tokens": rec.reasoning_tokens,
        "cache_write_tokens": rec.cache_write_tokens,
        "cost_usd": rec.cost_usd,
        "ttft_ms": rec.ttft_ms,
        "latency_ms": rec.latency_ms,
        "tags": dict(rec.tags),
    }


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
