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
    redis_url: str | None = None  # unset: in-process state
    database_url: str | None = None  # unset: embedded SQLite file
    master_key: str | None = Field(default=None, repr=False)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # aiohttp is the measured-faster transport (bench/README.md); "httpx" is httpx's own.
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)
    # Output length assumed for cost and latency when the request gives no max_tokens.
    default_output_tokens: int = Field(default=256, ge=1)
    explore_rate: float = Field(default=0.02, ge=0, le=0.5)
