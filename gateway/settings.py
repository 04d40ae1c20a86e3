"""Typed settings: the only reader of the GATEWAY_* environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    providers: Path = Path("providers.yaml")
    policies: Path = Path("policies")
    watch_config: bool = True  # reload providers.yaml and policies/ when they change
    redis_url: str | None = Field(default=None, repr=False)  # unset: in-process state
    redis_cluster: bool = False  # the URL names one node of a Redis Cluster
    redis_prefix: str = "gw:"  # key prefix, so several gateways can share one Redis
    state_refresh_s: float = Field(default=0.25, gt=0)  # background refresh of the local snapshot
    # postgresql://… or sqlite:///… (driver chosen internally); unset: the SQLite file ./gateway.db
    database_url: str | None = Field(default=None, repr=False)
    # The spend ledger's writer: rows are batched by size or interval, off the request path.
    ledger_batch_size: int = Field(default=500, ge=1)
    ledger_flush_interval_s: float = Field(default=0.5, gt=0)
    ledger_queue_max: int = Field(default=50_000, ge=1)  # past this, rows spill to the spool
    ledger_spool_dir: Path = Path("spool")  # rows wait here while the database is unreachable
    # Apply pending migrations at start-up. Unset: yes for a SQLite file, no for Postgres.
    ledger_migrate: bool | None = None
    master_key: str | None = Field(default=None, repr=False)
    # Clients present a key: the master key or a `gw-` key (`gateway keys create`). Off
    # (`--no-auth`) only on a loopback bind: the demo and local experiments.
    auth: bool = True
    # Redis unreachable: keys' and teams' budgets cannot be checked; refuse (true) or allow.
    budget_fail_closed: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, else JSON
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # /metrics without a key
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # aiohttp is the measured-faster transport (bench/README.md); "httpx" is httpx's own.
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)
    # Output length assumed for cost and latency when the request gives no max_tokens.
    default_output_tokens: int = Field(default=256, ge=1)
    explore_rate: float = Field(default=0.02, ge=0, le=0.5)
    health_probe_s: float = Field(default=0.5, gt=0)  # circuits ending a cool-down: GET /models
