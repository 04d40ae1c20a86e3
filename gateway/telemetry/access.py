"""The access log: one line per finished request on the `gateway.access` logger, built from its
spend row (so it carries what the ledger carries: never a key, only its id and prefix)."""

from __future__ import annotations

import logging
from typing import Any

from gateway.ledger.record import SpendRecord
from gateway.logs import ACCESS_FIELDS

log = logging.getLogger("gateway.access")


def access_line(record: SpendRecord, *, key_prefix: str | None, overhead_s: float | None) -> None:
    if not log.isEnabledFor(logging.INFO):  # a level above info: nothing built
        return
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "team": record.team,
        "key_id": record.key_id,
        "key_prefix": key_prefix,
        "endpoint": record.endpoint,
        "model": record.requested_model,
        "route": record.policy,
        "deployment": record.deployment,
        "attempts": record.attempts,
        "status": record.status_code,
        "error_type": record.error_type,
        "stream": record.stream,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost_usd": float(record.cost_usd) if record.cost_usd is not None else None,
        "ttft_ms": _ms(record.ttft_ms),
        "latency_ms": _ms(record.latency_ms),
        "overhead_ms": _ms(overhead_s * 1000) if overhead_s is not None else None,
    }
    log.info(
        "%s %s %s -> %s %d attempt(s) %.1f ms",
        record.status_code,
        record.endpoint,
        record.requested_model,
        record.deployment or "-",
        record.attempts,
        record.latency_ms,
        extra={ACCESS_FIELDS: fields},
    )


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
