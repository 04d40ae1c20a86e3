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
    prefer_owned_capacity: bool = False
    teams: Mapping[str, Route] = field(default_factory=dict)  # team -> its variant


@dataclass(frozen=True, slots=True)
class Config:
    deployments: Mapping[str, Deployment]
    routes: Mapping[str, Route]  # public model name (and alias) -> route
    unavailable: Mapping[str, str]  # provider -> why it is skipped (e.g. key variable unset)
    version: str  # content hash of the files it came from
    default_route: str | None = None  # serves model names no route mentions
    files: tuple[str, ...] = ()
