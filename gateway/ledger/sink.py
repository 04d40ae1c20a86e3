"""The Sink protocol: where batches of spend rows go (Postgres or SQLite), idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.ledger.record import SpendRecord


class DatabaseUnavailable(Exception):
    """The database cannot take rows right now (down, unreachable, restarting): spool and retry.

    Any other exception from insert() means the rows themselves were refused.
    """


class Sink(Protocol):
    async def insert(self, records: Sequence[SpendRecord]) -> int:
        """Insert in one statement; rows already present are skipped. Returns rows inserted."""
        ...

    async def close(self) -> None: ...
