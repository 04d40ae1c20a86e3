"""The immutable runtime view of the configuration that the request path reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.config.policies import Constraints, Slo, Strategy


@dataclass(frozen=True, slots=True)
class ScopeLimit:
    """Limits shared by everything in one scope: a whole provider ("p") or one model ("m:NAME")."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class PoolReplica:
    url: str  # OpenAI base URL, e.g. http://10.0.0.11:8000/v1
    metrics_url: str  # Prometheus text, e.g. http://10.0.0.11:8000/metrics


@dataclass(frozen=True, slots=True)
class DnsSource:
    """Replicas behind a name: one per address it resolves to (see upstream.pool_dns)."""

    url: str  # http://vllm-headless:8000/v1: the name is replaced by each address
    metrics_path: str
    refresh_s: float


@dataclass(frozen=True, slots=True)
class Pool:
    """A self-hosted pool (kind: pool): its replicas, engine, capacity and GPU cost."""

    replicas: tuple[PoolReplica, ...]
    engine: str  # vllm | sglang | tgi | openai: which metric names to read
    gpu_hour_usd: float
    gpus: int
    billing: str  # reserved | elastic
    goodput_tokens_per_s: float | None
    max_batch: int
    max_queue: int
    prefill_tokens_per_s: float
    prefix_affinity: bool = True
    dns: DnsSource | None = None  # replicas found by DNS (then `replicas` is empty)

    @property
    def usd_per_hour(self) -> float:
        return self.gpu_hour_usd * self.gpus

    @property
    def amortised_per_mtok(self) -> float | None:
        """GPU-hours spread over the declared goodput; None when no goodput is declared."""
        if not self.goodput_tokens_per_s:
            return None
        return self.usd_per_hour / (self.goodput_tokens_per_s * 3600) * 1e6


@dataclass(frozen=True, slots=True)
class LitellmAuth:
    """Credentials of a provider served through litellm, by reference (environment variable
    names, a file path); the adapter reads them once when it is built."""

    aws_access_key_id_env: str | None = None
    aws_secret_access_key_env: str | None = None
    aws_session_token_env: str | None = None
    aws_region: str | None = None
    credentials_file: str | None = None  # Google service-account JSON
    vertex_project: str | None = None
    vertex_location: str | None = None

    @property
    def secret_envs(self) -> tuple[str, ...]:
        names = (self.aws_access_key_id_env, self.aws_secret_access_key_env)
        return tuple(n for n in (*names, self.aws_session_token_env) if n)


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str  # "provider/model", the key used in state, headers and the ledger
    provider: str
    model: str
    upstream_model: str
    kind: str
    base_url: str
    api_key_env: str | None
    input_per_mtok: float | None  # None: price unknown (scored pessimistically)
    output_per_mtok: float | None
    cached_input_per_mtok: float | None
    capabilities: frozenset[str] | None  # None: assumed capable
    context_window: int | None
    tags: frozenset[str] = frozenset()
    limits: tuple[ScopeLimit, ...] = ()  # provider scope first, then the model's own
    region: str | None = None
    typical_ttft_ms: float | None = None  # declared in providers.yaml, for `gateway check`
    # kind: pool. Its input/output prices above are what scoring charges: 0 for reserved
    # capacity (its cost is the SLO risk when full), the amortised GPU-hour for elastic.
    pool: Pool | None = None
    cache_write_per_mtok: float | None = None  # default: the input price
    operations: frozenset[str] = frozenset({"chat", "completions"})  # served natively
    reasoning_per_mtok: float | None = None  # default: the output price
    api_version: str | None = None  # kind: azure (None: the adapter's default)
    litellm: LitellmAuth | None = None  # kinds served through litellm

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """Every environment variable holding a secret of this deployment (to redact)."""
        own = (self.api_key_env,) if self.api_key_env else ()
        return own + (self.litellm.secret_envs if self.litellm else ())


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    targets: tuple[Deployment, ...]
    strategy: Strategy = Strategy.BALANCED
    slo: Slo = field(default_factory=Slo)
    max_attempts: int = 3
    source: str = "implicit"  # policy file it came from, "implicit" or "pinned"
    weights: Mapping[str, float] = field(default_factory=dict)  # deployment id -> share
    constraints: Constraints = field(default_factory=Constraints)
    excluded: tuple[tuple[Deployment, str], ...] = ()  # listed but ruled out by constraints
    deadline_s: float | None = None
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    total_timeout_s: float | None = None
    prefer_owned_capacity: bool = False
    hedge_after_ms: float | str | None = None  # a number, "auto" or None
    resume: bool = False
    teams: Mapping[str, Route] = field(default_factory=dict)  # team -> its variant


@dataclass(frozen=True, slots=True)
class Config:
    deployments: Mapping[str, Deployment]
    routes: Mapping[str, Route]  # public model name (and alias) -> route
    unavailable: Mapping[str, str]  # provider -> why it is skipped (e.g. key variable unset)
    version: str  # content hash of the files it came from
    default_route: str | None = None  # serves model names no route mentions
    files: tuple[str, ...] = ()
