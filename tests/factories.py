"""Build config objects, pools and settings for tests with only the fields a test cares about."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.config.runtime import Deployment, Pool
from gateway.settings import Settings
from gateway.upstream.pool import PoolUpstream
from gateway.upstream.transport import make_transport

_BASE = Deployment(
    id="p/m",
    provider="p",
    model="m",
    upstream_model="m",
    kind="openai",
    base_url="http://x/v1",
    api_key_env=None,
    input_per_mtok=1.0,
    output_per_mtok=1.0,
    cached_input_per_mtok=None,
    capabilities=None,
    context_window=None,
)


def deployment(provider: str = "p", model: str = "m", **fields: Any) -> Deployment:
    """A deployment `provider/model`; any other Deployment field by keyword."""
    return replace(
        _BASE,
        id=f"{provider}/{model}",
        provider=provider,
        model=model,
        upstream_model=model,
        **fields,
    )


_POOL = Pool(
    replicas=(),
    engine="openai",
    gpu_hour_usd=2.0,
    gpus=2,
    billing="reserved",
    goodput_tokens_per_s=None,
    max_batch=4,
    max_queue=0,
    prefill_tokens_per_s=10_000,
)


def pool_upstream(**fields: Any) -> PoolUpstream:
    """A PoolUpstream on httpx's transport (respx can mock it); any Pool field by keyword."""
    return PoolUpstream(
        provider="pool",
        pool=replace(_POOL, **fields),
        transport=make_transport("httpx", max_connections=8),
        connect_timeout_s=1.0,
        read_timeout_s=5.0,
    )


def gateway_settings(workdir: Path, **fields: Any) -> Settings:
    """Settings for an in-process gateway whose files all live in workdir."""
    base: dict[str, Any] = {
        "providers": workdir / "providers.yaml",
        "policies": workdir / "policies",
        "database_url": f"sqlite:///{workdir / 'ledger.db'}",
        "ledger_spool_dir": workdir / "spool",
        "watch_config": False,
        "auth": "master_key" in fields,  # open on loopback unless the test is about auth
    }
    return Settings(**{**base, **fields})
