"""Schema of providers.yaml: what exists, what it costs, its limits (validated, immutable)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from gateway.config.litellm_kinds import CREDENTIAL_FIELDS, LITELLM_KINDS, credential_problem

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_API_VERSION = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")
SUPPORTED_KINDS = ("openai", "pool", "anthropic", "azure", "gemini", *LITELLM_KINDS)
PLANNED_KINDS: tuple[str, ...] = ()  # refused with a clear message until their adapter lands
OPERATIONS = ("chat", "messages", "responses", "embeddings", "completions")
# What a model's upstream serves natively when its `operations` are not listed.
DEFAULT_OPERATIONS: dict[str, tuple[str, ...]] = {
    "openai": ("chat", "completions"),
    "pool": ("chat", "completions"),
    "anthropic": ("messages",),
    "azure": ("chat", "completions"),
    "gemini": ("chat",),
    **{kind: ("chat",) for kind in LITELLM_KINDS},
}
Operations = tuple[Literal["chat", "messages", "responses", "embeddings", "completions"], ...]
# What each kind's adapter can call at all.
KIND_OPERATIONS: dict[str, frozenset[str]] = {
    "openai": frozenset({"chat", "responses", "embeddings", "completions"}),
    "pool": frozenset({"chat", "responses", "embeddings", "completions"}),
    "anthropic": frozenset({"messages"}),
    "azure": frozenset({"chat", "responses", "embeddings", "completions"}),
    "gemini": frozenset({"chat", "embeddings"}),
    **{kind: frozenset({"chat", "embeddings"}) for kind in LITELLM_KINDS},
}
KIND_BASE_URL = {  # the default base_url of a kind: Anthropic's root (no /v1), Gemini's OpenAI API
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)  # cache read
    cache_write_per_mtok: float | None = Field(default=None, ge=0)  # default: input price
    reasoning_per_mtok: float | None = Field(default=None, ge=0)  # default: output price


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
    # What its upstream serves natively (default: by kind, DEFAULT_OPERATIONS); Messages and
    # Responses requests also reach a chat model, translated.
    operations: Operations | None = Field(default=None, min_length=1)


def _http(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http)]


class Replica(_Strict):
    """One replica of a pool: its OpenAI base URL and, if not at the server root, its metrics."""

    url: HttpUrl  # e.g. http://10.0.0.11:8000/v1
    metrics_url: HttpUrl | None = None  # default: the server root, http://10.0.0.11:8000/metrics


def http_base_url(value: str) -> str:
    """A vendor's base URL, checked whole: scheme, host, port, and nothing that would change
    where requests go or leak a secret (credentials, query, fragment, control characters)."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (use api_key_env)")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.rstrip("/")


def _replica(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


def _replicas_kind(value: object) -> str:
    """A mapping is the DNS form (its errors then name `replicas.dns.<field>`), else a list."""
    return "dns" if isinstance(value, dict | DnsReplicas) else "list"


class DnsReplicas(_Strict):
    """Replicas found by resolving a name (e.g. a Kubernetes headless Service), re-resolved
    every refresh_s: one replica per address, at this URL with the name replaced by it."""

    dns: HttpUrl  # e.g. http://vllm-headless.llm.svc:8000/v1
    metrics_path: str = Field(default="/metrics", pattern=r"^/")
    refresh_s: float = Field(default=10.0, ge=0.1)


class PoolCost(_Strict):
    """What the pool's GPUs cost; reserved capacity is paid whether used or not."""

    gpu_hour_usd: float = Field(ge=0)
    gpus: int = Field(ge=1)  # in the whole pool
    billing: Literal["reserved", "elastic"] = "reserved"
    # Tokens per second the pool serves within its SLO (bench/pools.py measures it): turns
    # GPU-hours into $/Mtok for elastic scoring and for ledger rows. Required for elastic.
    goodput_tokens_per_s: float | None = Field(default=None, gt=0)


class PoolCapacity(_Strict):
    """Per replica: the engine's batch size and how many queued requests the gateway allows."""

    max_batch: int = Field(default=256, ge=1)  # the engine's max_num_seqs / max_running_requests
    max_queue: int = Field(default=0, ge=0)  # safety limit = max_batch + max_queue in flight
    prefill_tokens_per_s: float = Field(default=10_000.0, gt=0)  # to predict TTFT from queues


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("names use letters, digits, '_', '.', '-' (no '/')")
    return value


ProviderName = Annotated[str, AfterValidator(_check_name)]


class ProviderSpec(_Strict):
    kind: str = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None  # kind: azure, e.g. 2024-10-21 or 2025-04-01-preview
    limits: Limits = Limits()
    tags: tuple[str, ...] = ()
    region: str | None = None  # e.g. eu, us: for policies' `constraints.regions`
    connect_timeout_s: float | None = Field(default=None, gt=0)
    read_timeout_s: float | None = Field(default=None, gt=0)
    models: dict[str, ModelSpec] = Field(min_length=1)
    # kind: pool only (self-hosted replicas speaking the OpenAI API)
    engine: Literal["vllm", "sglang", "tgi", "openai"] | None = None
    # A list of replicas, or {dns: URL} for every address a name resolves to.
    replicas: Annotated[
        Annotated[tuple[Annotated[Replica, BeforeValidator(_replica)], ...], Tag("list")]
        | Annotated[DnsReplicas, Tag("dns")],
        Discriminator(_replicas_kind),
    ] = ()
    cost: PoolCost | None = None
    capacity: PoolCapacity = PoolCapacity()
    prefix_affinity: bool = True  # send requests sharing a prompt prefix to the same replica
    # kinds served through litellm (bedrock, vertex, cohere, litellm): credentials by reference
    aws_access_key_id_env: str | None = None
    aws_secret_access_key_env: str | None = None
    aws_session_token_env: str | None = None
    aws_region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")
    credentials_file: str | None = None  # a Google service-account JSON file (kind: vertex)
    vertex_project: str | None = None  # default: the service account's project
    vertex_location: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")

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
        return None if value is None else http_base_url(value)

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str | None) -> str | None:
        if value is not None and not _API_VERSION.match(value):
            raise ValueError(
                "must be an Azure API version such as 2024-10-21 or 2025-04-01-preview"
            )
        return value

    @field_validator(
        "api_key_env", "aws_access_key_id_env", "aws_secret_access_key_env", "aws_session_token_env"
    )
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError(
                "must name an environment variable (secrets are given by reference, never inline)"
            )
        return value

    @model_validator(mode="after")
    def _credentials_of_kind(self) -> ProviderSpec:
        given = {f: getattr(self, f) for f in (*CREDENTIAL_FIELDS, "api_key_env")}
        problem = credential_problem(self.kind, given)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _operations_of_kind(self) -> ProviderSpec:
        can = KIND_OPERATIONS.get(self.kind, frozenset())
        for name, model in self.models.items():
            extra = sorted(set(model.operations or ()) - can)
            if extra:
                raise ValueError(
                    f"models.{name}.operations: kind {self.kind} cannot serve "
                    f"{', '.join(extra)} (it serves {', '.join(sorted(can))})"
                )
        return self

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderSpec:
        if self.kind in ("openai", "azure") and not self.base_url:
            raise ValueError(f"base_url is required for kind: {self.kind}")
        if self.api_version is not None and self.kind != "azure":
            raise ValueError("api_version is for kind: azure only")
        if self.kind == "azure" and urlsplit(self.base_url or "").path not in ("", "/"):
            raise ValueError(
                "kind: azure takes the resource's root as base_url "
                "(https://RESOURCE.openai.azure.com), without a path"
            )
        pool_fields = self.engine or self.replicas or self.cost
        if self.kind != "pool":
            if pool_fields:
                raise ValueError("engine, replicas and cost are for kind: pool only")
            return self
        if self.base_url:
            raise ValueError("a pool has no base_url: list its replicas instead")
        if not self.replicas:
            raise ValueError("kind: pool needs replicas (their OpenAI base URLs)")
        if self.cost is None:
            raise ValueError("kind: pool needs cost: {gpu_hour_usd, gpus}")
        if self.cost.billing == "elastic" and self.cost.goodput_tokens_per_s is None:
            raise ValueError("an elastic pool needs cost.goodput_tokens_per_s to price its tokens")
        return self


class ProvidersFile(_Strict):
    providers: dict[ProviderName, ProviderSpec] = Field(min_length=1)
