"""A migrated ledger database (Postgres schema or SQLite file) and an engine on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.schema import migrate


@pytest.fixture
async def engine(ledger_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(parse_database_url(ledger_url))
    await migrate(engine)
    yield engine
    await engine.dispose()
