"""Is the database at the head revision? Answered without Alembic (~0.1 s to import and more to
run an upgrade that has nothing to do): the head read from migrations/versions, the database's
revision from its alembic_version table. Any doubt answers "no", and Alembic decides."""

from __future__ import annotations

import ast
import functools
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@functools.cache
def head_of_files(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The one revision no other revision names as its parent; None if that is not clear-cut
    (several heads, a revision file this cannot read): then Alembic is asked."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        names = _assignments(path, ("revision", "down_revision"))
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
            parents.update(down)
        elif down is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _assignments(path: Path, wanted: tuple[str, ...]) -> dict[str, object]:
    """The literal values of the module-level `name = ...` / `name: T = ...` lines in `wanted`."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in wanted:
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError:
                    found[target.id] = value  # not a literal: not a str, so "unclear"
    return found


def sqlite_revision(path: str) -> str | None:
    """The revision of a SQLite ledger file; None: no file, no alembic_version table, not one
    row, or unreadable (a sqlite3 connection of its own; never creates the file)."""
    uri = f"{Path(path).absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return rows[0][0] if len(rows) == 1 and isinstance(rows[0][0], str) else None


async def engine_revision(engine: AsyncEngine) -> str | None:
    """The revision of the database behind an engine, as sqlite_revision (database errors
    propagate: they are the caller's to classify)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_read)


def _read(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None
