"""Schema of providers.yaml: what exists, what it costs, its limits (validated, immutable)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SUPPORTED_KINDS = ("openai",)
PLANNED_KINDS = ("anthropic", "bedrock", "vertex", "gemini", "pool", "litellm")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)


class Limits(_Strict):
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)


class ModelSpec(_Strict):
    upstream: str | None = None  # the name the vendor knows it by; default: the key
    price: Price | None = None
    capabilities: tuple[str, ...] | None = None  # None: assumed capable of everything
    context_window: int | None = Field(default=None, ge=1)
    limits: Limits | None = None
    typical_ttft_ms: float | None = Field(default=None, gt=0)  # what the vendor publishes


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("names use letters, digits, '_', '.', '-' (no '/')")
    return value


ProviderName = Annotated[str, AfterValidator(_check_name)]


class ProviderSpec(_Strict):
    kind: str = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    limits: Limits = Limits()
    tags: tuple[str, ...] = ()
    region: str | None = None  # e.g. eu, us: for policies' `constraints.regions`
    connect_timeout_s: float | None = Field(default=None, gt=0)
    read_timeout_s: float | None = Field(default=None, gt=0)
    models: dict[str, ModelSpec] = Field(min_length=1)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value in SUPPORTED_KINDS:
            return value
        if value in PLANNED_KINDS:
            raise ValueError(
                f"kind '{value}' is not supported yet; use kind: openai for any "
                "OpenAI-compatible endpoint"
            )
        raise ValueError(f"unknown kind '{value}' (supported: {', '.join(SUPPORTED_KINDS)})")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError(
                "must name an environment variable (secrets are given by reference, never inline)"
            )
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderSpec:
        if self.kind == "openai" and not self.base_url:
            raise ValueError("base_url is required for kind: openai")
        return self


class ProvidersFile(_Strict):
    providers: dict[ProviderName, ProviderSpec] = Field(min_length=1)
