"""The ledger's CLI commands (`gateway migrate`, `gateway spend`, `gateway ledger prune`).

Registered on the `gateway` app by gateway/cli.py; database modules load only when a command runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar, cast

import typer

from gateway.settings import Settings

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.ext.asyncio import AsyncEngine

    from gateway.ledger.database import Database
    from gateway.ledger.report import SpendLine

T = TypeVar("T")

DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="ledger database [env GATEWAY_DATABASE_URL]")
]
BY_CHOICES = ("team", "key", "provider", "model")


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def database_of(url: str | None) -> Database:
    from gateway.ledger.database import LedgerConfigError, parse_database_url

    try:
        return parse_database_url(url if url is not None else Settings().database_url)
    except LedgerConfigError as exc:
        raise fail(str(exc)) from None


def run_job(db: Database, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run one async job on a fresh engine; connection problems become one-line errors."""
    from sqlalchemy.exc import DBAPIError

    from gateway.ledger.database import create_engine

    async def job() -> T:
        engine = create_engine(db)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(job())
    except (OSError, DBAPIError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise fail(f"ledger database {db.safe_url}: {detail}") from None


def migrate(database_url: DatabaseOpt = None) -> None:
    """Apply pending ledger migrations (Postgres or the SQLite file)."""
    from gateway.ledger import schema

    db = database_of(database_url)
    before, after = run_job(db, schema.migrate)
    if before == after:
        typer.echo(f"{db.safe_url}: schema up to date ({after})")
    else:
        typer.secho(f"{db.safe_url}: migrated {before or 'empty'} -> {after}", fg="green")


def spend(
    since: Annotated[str, typer.Option(help="how far back: 12h, 7d, 2w")] = "7d",
    by: Annotated[str, typer.Option(help="team, key, provider or model")] = "team",
    database_url: DatabaseOpt = None,
) -> None:
    """Spend report from the ledger: requests, tokens and USD per team, key, provider or model."""
    from rich.console import Console

    from gateway.ledger.report import By, parse_duration, spend_by

    if by not in BY_CHOICES:
        raise fail(f"--by must be one of {', '.join(BY_CHOICES)}")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise fail(str(exc)) from None
    db = database_of(database_url)
    dimension = cast("By", by)

    async def work(engine: AsyncEngine) -> list[SpendLine]:
        return await spend_by(engine, dimension, window)

    lines = run_job(db, work)
    Console().print(_spend_table(f"Spend by {by}, last {since} (UTC days)", by, lines))


def _spend_table(title: str, by: str, lines: list[SpendLine]) -> Table:
    """Per key: its id, public prefix and name (never the key); requests without one: (no key)."""
    from rich.table import Table

    table = Table(title=title)
    labels = ["key id", "prefix", "name"] if by == "key" else [by]
    for label in labels:
        table.add_column(label)
    for name in ("requests", "tokens", "cost (USD)"):
        table.add_column(name, justify="right")
    for line in lines:
        table.add_row(
            *_row_head(by, line), f"{line.requests:,}", f"{line.tokens:,}", f"{line.cost_usd:.6f}"
        )
    total = sum((line.cost_usd for line in lines), start=0)
    table.add_section()
    blank = [""] * (len(labels) - 1)
    table.add_row("total", *blank, f"{sum(x.requests for x in lines):,}", "", f"{total:.6f}")
    return table


def _row_head(by: str, line: SpendLine) -> list[str]:
    if by != "key":
        return [line.key or "-"]
    if line.key is None:
        return ["(no key)", "", ""]
    return [line.key, line.prefix or "-", line.name or ""]  # prefix "-": not in api_keys


def prune(
    older_than: Annotated[str, typer.Option("--older-than", help="keep this much: 90d, 12w")],
    database_url: DatabaseOpt = None,
) -> None:
    """Drop spend_log months older than the cutoff (Postgres: DROP partition; SQLite: DELETE)."""
    from gateway.ledger.partitions import prune as prune_rows
    from gateway.ledger.report import parse_duration

    try:
        keep = parse_duration(older_than)
    except ValueError as exc:
        raise fail(str(exc)) from None
    db = database_of(database_url)

    async def work(engine: AsyncEngine) -> tuple[tuple[str, ...], int]:
        async with engine.begin() as conn:
            pruned = await prune_rows(conn, keep, datetime.now(UTC))
        return pruned.partitions, pruned.rows

    partitions, rows = run_job(db, work)
    if db.dialect == "postgresql":
        dropped = ", ".join(partitions) or "nothing to drop"
        typer.echo(f"dropped {len(partitions)} partition(s): {dropped}")
    else:
        typer.echo(f"deleted {rows} row(s)")


def prepare(settings: Settings) -> Settings:
    """Before `serve` binds: migrate or check the schema, or exit with one line saying why.

    Returns settings with migration switched off: workers must not all migrate again.
    """
    from gateway.ledger.database import LedgerConfigError
    from gateway.ledger.factory import prepare_schema, wants_migration
    from gateway.ledger.schema import SchemaOutdated

    db = database_of(settings.database_url)
    try:
        asyncio.run(prepare_schema(db, migrate_now=wants_migration(settings, db)))
    except (SchemaOutdated, LedgerConfigError) as exc:
        raise fail(str(exc)) from None
    return settings.model_copy(update={"ledger_migrate": False})
