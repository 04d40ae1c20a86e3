"""`gateway replay`: read the period's spend_log, replay it under a candidate policies folder,
print actual against predicted per route (a table, or JSON). Progress goes to stderr."""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from gateway.config.loader import load_config
from gateway.config.yamlsrc import ConfigError
from gateway.ledger.catalog import AnyKeyEnv
from gateway.ledger.commands import DatabaseOpt, database_of, fail, run_job
from gateway.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from gateway.config.runtime import Config
    from gateway.replay.recorded import Recorded

PROGRESS_ROWS = 50_000  # a progress line every this many rows read or replayed
FORMATS = ("table", "json")


def replay(
    policies: Annotated[Path, typer.Option("--policies", help="the candidate policies folder")],
    providers: Annotated[
        Path | None, typer.Option("--providers", help="providers.yaml [env GATEWAY_PROVIDERS]")
    ] = None,
    since: Annotated[str, typer.Option(help="how far back: 12h, 7d, 2w")] = "7d",
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    seed: Annotated[int, typer.Option(help="seed of the router's random draws")] = 0,
    database_url: DatabaseOpt = None,
) -> None:
    """Predict each route's cost, SLO attainment and split under candidate policies, beside
    what the ledger recorded for the same requests."""
    # Loaded when the command runs, as the ledger's commands do: the CLI starts fast.
    from gateway.ledger.report import parse_duration
    from gateway.replay.history import served, unserved_count
    from gateway.replay.observed import Observed
    from gateway.replay.render import as_json, table
    from gateway.replay.simulate import Knobs, Replay

    if output not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise fail(f"--since: {exc}") from None
    config = _candidate(policies, providers)
    db = database_of(database_url)
    if db.dialect == "sqlite" and not Path(db.url.database or "").is_file():
        raise fail(f"ledger database {db.safe_url}: no such file")
    now = datetime.now(UTC)
    start = now - window

    async def read(engine: AsyncEngine) -> tuple[list[Recorded], int]:
        rows: list[Recorded] = []
        async for batch in served(engine, start):
            before = len(rows)
            rows.extend(batch)
            if len(rows) // PROGRESS_ROWS > before // PROGRESS_ROWS:
                _progress(f"read {len(rows):,} rows")
        return rows, await unserved_count(engine, start)

    _progress(f"reading spend_log since {start:%Y-%m-%d %H:%M} UTC from {db.safe_url}")
    rows, unserved = run_job(db, read)
    settings = Settings()
    sim = Replay(
        config,
        Observed(rows),
        draw=random.Random(seed).random,
        knobs=Knobs(
            settings.explore_rate, settings.default_output_tokens, settings.state_refresh_s
        ),
    )
    for i, row in enumerate(rows, 1):
        sim.feed(row)
        if i % PROGRESS_ROWS == 0:
            _progress(f"replayed {i:,} of {len(rows):,} requests ({i / len(rows):.0%})")
    routes = sim.finish()
    _progress(f"{len(rows):,} served requests replayed; {unserved:,} unanswered ones are not")
    if output == "json":
        meta = {
            "since": since,
            "from": start.isoformat(),
            "to": now.isoformat(),
            "policies": str(policies),
            "not_replayed": unserved,
        }
        typer.echo(orjson.dumps(as_json(routes, meta)).decode())
        return
    from rich.console import Console

    title = f"Replay of the last {since} under {policies} ({len(rows):,} requests)"
    Console().print(table(routes, title))


def _candidate(policies: Path, providers: Path | None) -> Config:
    """The candidate config, or exit with each problem as file:line (as `gateway check`)."""
    if not policies.is_dir():
        raise fail(f"--policies {policies}: not a folder")
    providers_file = providers if providers is not None else Settings().providers
    try:
        # Every provider counts as available: no vendor is called, so no key is needed here.
        return load_config(providers_file, policies, AnyKeyEnv(os.environ))
    except ConfigError as exc:
        for problem in exc.problems:
            typer.secho(str(problem), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _progress(message: str) -> None:
    print(f"replay: {message}", file=sys.stderr, flush=True)
