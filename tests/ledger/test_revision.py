"""The schema revision without Alembic: it agrees with Alembic, and any doubt answers "ask it"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.factory import prepare_schema
from gateway.ledger.revision import engine_revision, head_of_files, sqlite_revision
from gateway.ledger.schema import SchemaOutdated, head_revision, migrate


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_of_files() == head_revision()


def _versions(tmp_path: Path, *files: str) -> Path:
    tmp_path.mkdir()
    for n, body in enumerate(files):
        (tmp_path / f"{n:04d}_x.py").write_text(body)
    return tmp_path


def test_two_heads_or_an_unreadable_revision_answer_none(tmp_path: Path) -> None:
    base = 'revision = "a"\ndown_revision = None\n'
    one = _versions(tmp_path / "one", base, 'revision: str = "b"\ndown_revision = "a"\n')
    assert head_of_files(one) == "b"
    two = _versions(tmp_path / "two", base, 'revision = "b"\ndown_revision = "a"\n',
                    'revision = "c"\ndown_revision = "a"\n')  # fmt: skip
    assert head_of_files(two) is None
    odd = _versions(tmp_path / "odd", base, 'revision = make()\ndown_revision = "a"\n')
    assert head_of_files(odd) is None


def test_sqlite_revision_never_creates_the_file(tmp_path: Path) -> None:
    assert sqlite_revision(str(tmp_path / "absent.db")) is None
    assert not (tmp_path / "absent.db").exists()
    sqlite3.connect(tmp_path / "empty.db").close()
    assert sqlite_revision(str(tmp_path / "empty.db")) is None  # no alembic_version table


async def test_both_readers_agree_with_alembic(ledger_url: str, engine: AsyncEngine) -> None:
    assert await engine_revision(engine) == head_revision()
    db = parse_database_url(ledger_url)
    if db.sqlite_path is not None:
        assert sqlite_revision(db.sqlite_path) == head_revision()


async def test_a_database_behind_the_head_is_still_refused(ledger_url: str) -> None:
    """The fast path accepts only the head: anything else goes to Alembic's check."""
    db = parse_database_url(ledger_url)
    engine = create_engine(db)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        assert await engine_revision(engine) == "0002"
        with pytest.raises(SchemaOutdated, match="is at schema revision 0002"):
            await prepare_schema(db, migrate_now=False)
    finally:
        await engine.dispose()
