"""The `gateway` command: serve, check, models, demo, sim, migrate, spend, replay, ledger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from gateway import logs
from gateway.config.loader import load_config
from gateway.config.runtime import Config
from gateway.config.yamlsrc import ConfigError
from gateway.ledger import commands as ledger_commands
from gateway.ledger.database import LedgerConfigError
from gateway.replay import command as replay_command
from gateway.settings import Settings
from gateway.tenancy import commands as tenancy_commands

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

ProvidersOpt = Annotated[
    Path | None, typer.Option("--providers", help="providers.yaml [env GATEWAY_PROVIDERS]")
]
PoliciesOpt = Annotated[
    Path | None, typer.Option("--policies", help="policies folder [env GATEWAY_POLICIES]")
]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _configure_logging(level: str, fmt: str = "text") -> None:
    # Key-shaped strings out of every line (create_app adds our keys by value).
    logs.configure(level, fmt)


def _fail(exc: ConfigError) -> NoReturn:
    for problem in exc.problems:
        typer.secho(str(problem), fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    providers: ProvidersOpt = None,
    policies: PoliciesOpt = None,
    host: Annotated[str | None, typer.Option(help="bind address [env GATEWAY_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [env GATEWAY_PORT]")] = None,
    workers: Annotated[
        int | None, typer.Option(help="worker processes [env GATEWAY_WORKERS]")
    ] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="apply pending ledger migrations first [env GATEWAY_LEDGER_MIGRATE]",
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="accept requests without a key (loopback binds only) [GATEWAY_AUTH]"
        ),
    ] = False,
    per_worker_state: Annotated[
        bool,
        typer.Option(
            "--per-worker-state",
            help="allow --workers N without Redis: quotas and budgets per worker "
            "[GATEWAY_PER_WORKER_STATE]",
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="also serve /metrics here, without a key [env GATEWAY_METRICS_PORT]"),
    ] = None,
) -> None:
    """Run the gateway."""
    import uvicorn

    from gateway.api.http_guard import GuardedHttpTools
    from gateway.app import create_app
    from gateway.state.factory import check_workers

    settings = _settings(
        providers=providers,
        policies=policies,
        host=host,
        port=port,
        workers=workers,
        ledger_migrate=migrate,
        auth=False if no_auth else None,
        per_worker_state=per_worker_state or None,
        metrics_port=metrics_port,
    )
    try:
        warning = check_workers(settings)
        _configure_logging(settings.log_level, settings.log_format)
        if warning:
            logging.getLogger("gateway").warning(warning)
        application = create_app(settings)  # validates the config before binding a port
    except ConfigError as exc:
        _fail(exc)
    except (LedgerConfigError, ValueError) as exc:  # ValueError: unshared workers, an unsafe bind
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    # Schema checked (or migrated) once here, not by every worker, and before binding a port.
    settings = ledger_commands.prepare(settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": GuardedHttpTools,  # httptools with header size, count and time bounds
        "access_log": False,
        "log_level": settings.log_level,
    }
    if settings.workers == 1:
        uvicorn.run(application, **common)
        return
    # Worker processes build their own app from the environment: hand the settings over there.
    for name, value in settings.model_dump(exclude_none=True).items():
        os.environ[f"GATEWAY_{name.upper()}"] = str(value)
    # Each worker's metrics in files of a fresh private folder, summed by whichever is scraped.
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "gateway.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            # A worker importing the gateway on a busy host misses uvicorn's 5 s ping and is
            # killed and restarted, forever: give start-up time.
            timeout_worker_healthcheck=60,
            **common,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _load_or_exit(settings: Settings, env: Mapping[str, str], output: str) -> Config:
    """The config, or every problem as file:line (a JSON object with `--format json`), exit 2."""
    try:
        return load_config(settings.providers, settings.policies, env)
    except ConfigError as exc:
        if output == "json":
            problems = [asdict(p) for p in exc.problems]
            typer.echo(orjson.dumps({"ok": False, "problems": problems}).decode())
            raise typer.Exit(2) from None
        _fail(exc)


@app.command()
def check(
    providers: ProvidersOpt = None,
    policies: PoliciesOpt = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Validate providers.yaml and policies/; print every problem as file:line."""
    settings = _settings(providers=providers, policies=policies)
    config = _load_or_exit(settings, os.environ, output)
    summary = {
        "ok": True,
        "version": config.version,
        "deployments": sorted(config.deployments),
        "routes": sorted(config.routes),
        "unavailable": dict(config.unavailable),
    }
    if output == "json":
        typer.echo(orjson.dumps(summary).decode())
        return
    typer.secho(f"OK: config {config.version}", fg=typer.colors.GREEN)
    typer.echo(f"  {len(config.deployments)} deployments, {len(config.routes)} routes")
    for provider, why in config.unavailable.items():
        typer.secho(f"  unavailable: {provider}: {why}", fg=typer.colors.YELLOW)


@app.command()
def models(
    providers: ProvidersOpt = None,
    policies: PoliciesOpt = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Every public model: its candidates, operations and prices, and where each price came from."""
    from gateway.ledger import catalog

    settings = _settings(providers=providers, policies=policies)
    live = _load_or_exit(settings, os.environ, output)
    # Every declared model is listed, also those of providers whose key is unset here (marked
    # unavailable): no request is made, so no key is needed to price them.
    config = _load_or_exit(settings, catalog.AnyKeyEnv(os.environ), output)
    rows = list(catalog.candidates(config, live.unavailable))
    if output == "json":
        typer.echo(orjson.dumps({"models": [r.as_json() for r in rows]}).decode())
    else:
        catalog.print_table(rows)


@app.command()
def demo(
    requests: Annotated[int, typer.Option(help="how many requests to send")] = 150,
    concurrency: Annotated[int, typer.Option(help="requests in flight at once")] = 6,
    keep: Annotated[bool, typer.Option(help="keep serving after the report")] = False,
    port: Annotated[int, typer.Option(help="gateway port with --keep")] = 8080,
) -> None:
    """Route a mixed workload across three simulated vendors and report where it went."""
    from gateway.demo import run_demo

    _configure_logging("warning")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(total=requests, concurrency=concurrency, keep=keep, port=port))


@app.command()
def sim(
    config: Annotated[Path, typer.Option("--config", help="simulator YAML")],
    host: Annotated[str, typer.Option(help="bind address (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Serve simulated OpenAI-compatible vendors (for tests, demos and benchmarks)."""
    from gateway.sim import serve_forever

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(str(config), host=host))


app.command()(ledger_commands.migrate)
app.command()(ledger_commands.spend)
app.command()(replay_command.replay)
ledger_app = typer.Typer(no_args_is_help=True, help="Spend ledger maintenance.")
ledger_app.command()(ledger_commands.prune)
app.add_typer(ledger_app, name="ledger")
app.add_typer(tenancy_commands.keys_app, name="keys")
app.add_typer(tenancy_commands.teams_app, name="teams")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
