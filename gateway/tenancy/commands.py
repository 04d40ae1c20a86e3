"""`gateway keys create|list|revoke|update` and `gateway teams create|list|update`.

Registered on the `gateway` app by gateway/cli.py. The database is GATEWAY_DATABASE_URL's (or
`--database-url` before the command); the embedded SQLite file migrates itself, like the ledger.
A new key is printed once, alone on stdout; nothing else ever shows a key or its hash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.tenancy.keys import KeyRecord, TeamRecord
    from gateway.tenancy.spend import Spend
    from gateway.tenancy.store import KeyStore

T = TypeVar("T")

keys_app = typer.Typer(no_args_is_help=True, help="Gateway API keys: create, list, revoke, update.")
teams_app = typer.Typer(no_args_is_help=True, help="Teams and their limits: create, list, update.")

_URL: ContextVar[str | None] = ContextVar("database_url", default=None)
ModelsOpt = Annotated[str | None, typer.Option(help="allowed models, comma-separated")]
RpmOpt = Annotated[int | None, typer.Option(help="requests per minute")]
TpmOpt = Annotated[int | None, typer.Option(help="tokens per minute")]
DayOpt = Annotated[str | None, typer.Option("--budget-usd-day", help="USD per UTC day")]
MonthOpt = Annotated[str | None, typer.Option("--budget-usd-month", help="USD per UTC month")]
ExpiresOpt = Annotated[str | None, typer.Option(help="lifetime from now: 90m, 12h, 30d, 2w")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json")]
ClearOpt = Annotated[
    str | None, typer.Option(help="fields to reset to no limit, comma-separated (e.g. rpm,models)")
]
TeamArg = Annotated[str | None, typer.Argument(help="team name", show_default=False)]
TeamOpt = Annotated[str | None, typer.Option("--team", "--name", help="team name (or argument)")]


def _database(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="ledger database [env GATEWAY_DATABASE_URL]"),
    ] = None,
) -> None:
    _URL.set(database_url)  # runs before each command of the group, so never left over


keys_app.callback()(_database)
teams_app.callback()(_database)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _run(work: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Run `work` on a store over the database (migrated, or checked to be at the head)."""
    from sqlalchemy.exc import DBAPIError

    from gateway.ledger.database import LedgerConfigError, create_engine, parse_database_url
    from gateway.ledger.factory import wants_migration
    from gateway.ledger.schema import SchemaOutdated, check, migrate
    from gateway.tenancy.store import KeyStore, TeamExists

    settings = Settings()
    given = _URL.get()
    try:
        db = parse_database_url(given if given is not None else settings.database_url)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None

    async def job() -> T:
        engine = create_engine(db)
        try:
            await (migrate(engine) if wants_migration(settings, db) else check(engine))
            return await work(KeyStore(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(job())
    except (ValueError, SchemaOutdated) as exc:
        raise _fail(str(exc)) from None
    except TeamExists as exc:
        raise _fail(str(exc), 1) from None
    except (OSError, DBAPIError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database {db.safe_url}: {detail}") from None


def _limits(
    models: str | None, rpm: int | None, tpm: int | None, day: str | None, month: str | None
) -> dict[str, Any]:
    given = {
        "models": models,
        "rpm": rpm,
        "tpm": tpm,
        "budget_usd_day": day,
        "budget_usd_month": month,
    }
    return {k: v for k, v in given.items() if v is not None}


def _cleared(clear: str | None, allowed: tuple[str, ...]) -> dict[str, None]:
    names = [c.strip().replace("-", "_") for c in (clear or "").split(",") if c.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise _fail(f"--clear: unknown field {unknown[0]!r} (one of {', '.join(allowed)})")
    return dict.fromkeys(names)


def _team_name(argument: str | None, option: str | None) -> str:
    if argument and option and argument != option:
        raise _fail("give the team name once (as the argument or --team)")
    name = argument or option
    if not name:
        raise _fail("which team? give its name (e.g. `gateway teams create acme`)")
    return name


def _expires_at(expires: str | None) -> dict[str, datetime]:
    from gateway.tenancy.keys import parse_duration

    if expires is None:
        return {}
    try:
        return {"expires_at": datetime.now(UTC) + parse_duration(expires)}
    except ValueError as exc:
        raise _fail(f"--expires: {exc}") from None


def _no_key(ident: str) -> typer.Exit:
    from gateway.tenancy.keys import shown

    return _fail(f"no key '{shown(ident)}' (give its id or prefix: `gateway keys list`)", 1)


def _check_format(output: str) -> None:
    if output not in ("table", "json"):
        raise _fail("--format must be table or json")


def _json(items: list[dict[str, Any]]) -> None:
    typer.echo(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode())


# Keys


@keys_app.command("create")
def create_key(
    team: Annotated[str, typer.Option(help="the key's team (created if missing)")],
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    models: ModelsOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    budget_usd_day: DayOpt = None,
    budget_usd_month: MonthOpt = None,
    expires: ExpiresOpt = None,
) -> None:
    """Mint a key: printed once, alone on stdout (only its hash is stored)."""
    from gateway.tenancy.keys import parse_duration

    try:
        expires_in = None if expires is None else parse_duration(expires)
    except ValueError as exc:
        raise _fail(f"--expires: {exc}") from None
    limits = _limits(models, rpm, tpm, budget_usd_day, budget_usd_month)

    async def work(store: KeyStore) -> tuple[KeyRecord, str]:
        return await store.create_key(team, name=name, expires_in=expires_in, **limits)

    rec, key = _run(work)
    typer.echo(key)
    typer.echo(f"id: {rec.id}\nprefix: {rec.prefix}\nteam: {rec.team}", err=True)
    typer.secho("Store the key now: it is not shown again.", fg=typer.colors.YELLOW, err=True)


@keys_app.command("list")
def list_keys(
    team: Annotated[str | None, typer.Option(help="only this team's keys")] = None,
    output: FormatOpt = "table",
) -> None:
    """Every key (or a team's): limits, budgets, spend today and this month, last use."""
    from gateway.tenancy.spend import spend_by

    async def work(store: KeyStore) -> tuple[list[KeyRecord], dict[str, Spend]]:
        return await store.list_keys(team), await spend_by(store.engine, "key_id")

    _check_format(output)
    keys, spend = _run(work)
    if output == "json":
        from gateway.tenancy.spend import Spend
        from gateway.tenancy.views import key_view

        _json([key_view(k, spend.get(k.id, Spend())) for k in keys])
        return
    from gateway.tenancy.table import keys_table

    keys_table(keys, spend)


@keys_app.command("revoke")
def revoke_key(
    key: Annotated[str, typer.Argument(help="the key's id or prefix", show_default=False)],
) -> None:
    """Revoke a key now (every replica refuses it once it sees the change)."""

    async def work(store: KeyStore) -> KeyRecord | None:
        return await store.revoke(key)

    rec = _run(work)
    if rec is None:
        raise _no_key(key)
    assert rec.revoked_at is not None
    when = f"{rec.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    typer.echo(f"revoked {rec.id} ({rec.prefix}, team {rec.team}) at {when}")


@keys_app.command("update")
def update_key(
    key: Annotated[str, typer.Argument(help="the key's id or prefix", show_default=False)],
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    models: ModelsOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    budget_usd_day: DayOpt = None,
    budget_usd_month: MonthOpt = None,
    expires: ExpiresOpt = None,
    clear: ClearOpt = None,
) -> None:
    """Change a key's name, limits, budgets or expiry (--clear resets fields to none)."""
    from gateway.tenancy.keys import KEY_FIELDS

    fields: dict[str, Any] = _cleared(clear, (*KEY_FIELDS, "expires"))
    if "expires" in fields:
        fields["expires_at"] = fields.pop("expires")
    fields |= _limits(models, rpm, tpm, budget_usd_day, budget_usd_month) | _expires_at(expires)
    if name is not None:
        fields["name"] = name
    if not fields:
        raise _fail("nothing to update: give a limit flag, --name, --expires or --clear")

    async def work(store: KeyStore) -> KeyRecord | None:
        return await store.update_key(key, **fields)

    rec = _run(work)
    if rec is None:
        raise _no_key(key)
    typer.echo(f"updated {rec.id} ({rec.prefix}, team {rec.team})")


# Teams


@teams_app.command("create")
def create_team(
    name: TeamArg = None,
    team: TeamOpt = None,
    models: ModelsOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    budget_usd_day: DayOpt = None,
    budget_usd_month: MonthOpt = None,
) -> None:
    """Create a team with its limits (its keys' limits apply on top)."""
    team_name = _team_name(name, team)
    limits = _limits(models, rpm, tpm, budget_usd_day, budget_usd_month)

    async def work(store: KeyStore) -> TeamRecord:
        return await store.create_team(team_name, **limits)

    rec = _run(work)
    typer.echo(f"created team {rec.name}")


@teams_app.command("list")
def list_teams(output: FormatOpt = "table") -> None:
    """Every team: limits, budgets, spend today and this month, keys."""
    from gateway.tenancy.spend import spend_by

    async def work(
        store: KeyStore,
    ) -> tuple[list[TeamRecord], dict[str, Spend], list[KeyRecord]]:
        spend = await spend_by(store.engine, "team")
        return await store.list_teams(), spend, await store.list_keys()

    _check_format(output)
    teams, spend, keys = _run(work)
    if output == "json":
        from gateway.tenancy.spend import Spend
        from gateway.tenancy.views import team_view

        _json([team_view(t, spend.get(t.name, Spend())) for t in teams])
        return
    from gateway.tenancy.table import teams_table

    teams_table(teams, spend, keys)


@teams_app.command("update")
def update_team(
    name: TeamArg = None,
    team: TeamOpt = None,
    models: ModelsOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    budget_usd_day: DayOpt = None,
    budget_usd_month: MonthOpt = None,
    clear: ClearOpt = None,
) -> None:
    """Change a team's limits (--clear resets fields to none)."""
    from gateway.tenancy.keys import LIMIT_FIELDS

    team_name = _team_name(name, team)
    fields: dict[str, Any] = _cleared(clear, LIMIT_FIELDS)
    fields |= _limits(models, rpm, tpm, budget_usd_day, budget_usd_month)
    if not fields:
        raise _fail("nothing to update: give a limit flag or --clear")

    async def work(store: KeyStore) -> TeamRecord | None:
        return await store.update_team(team_name, **fields)

    rec = _run(work)
    if rec is None:
        raise _fail(f"no team {team_name!r} (`gateway teams list`)", 1)
    typer.echo(f"updated team {rec.name}")
