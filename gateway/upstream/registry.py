"""kind -> adapter factory: the one place that knows which class serves which kind of provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.config.litellm_kinds import LITELLM_KINDS
from gateway.config.runtime import Config, Deployment
from gateway.settings import Settings
from gateway.upstream.anthropic import AnthropicUpstream
from gateway.upstream.azure import AzureUpstream
from gateway.upstream.base import Upstream
from gateway.upstream.litellm_adapter import LitellmUpstream
from gateway.upstream.litellm_auth import litellm_credentials
from gateway.upstream.openai_compat import OpenAICompatUpstream
from gateway.upstream.pool import PoolUpstream
from gateway.upstream.transport import make_transport

Factory = Callable[[Deployment, Settings, Mapping[str, str]], Upstream]


def _vendor(adapter: type[OpenAICompatUpstream | AnthropicUpstream]) -> Factory:
    """A vendor's HTTP adapter on its own pooled client, its key read from the environment."""

    def build(dep: Deployment, settings: Settings, env: Mapping[str, str]) -> Upstream:
        return adapter(
            base_url=dep.base_url,
            api_key=env.get(dep.api_key_env) if dep.api_key_env else None,
            transport=make_transport(settings.http_transport, max_connections=512),
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
        )

    return build


def _azure(dep: Deployment, settings: Settings, env: Mapping[str, str]) -> Upstream:
    return AzureUpstream(
        base_url=dep.base_url,
        api_key=env.get(dep.api_key_env) if dep.api_key_env else None,
        api_version=dep.api_version,
        transport=make_transport(settings.http_transport, max_connections=512),
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )


def _pool(dep: Deployment, settings: Settings, env: Mapping[str, str]) -> Upstream:
    assert dep.pool is not None  # the loader builds one for every kind: pool deployment
    return PoolUpstream(
        provider=dep.provider,
        pool=dep.pool,
        transport=make_transport(settings.http_transport, max_connections=512),
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )


def _litellm(dep: Deployment, settings: Settings, env: Mapping[str, str]) -> Upstream:
    """Through litellm (imported from here on, off the event loop), credentials passed on."""
    credentials = litellm_credentials(dep, env)
    secret_keys = ("api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    return LitellmUpstream(
        kind=dep.kind,
        credentials=credentials,
        secrets=[credentials[k] for k in secret_keys if k in credentials],
        read_timeout_s=settings.read_timeout_s,
    )


FACTORIES: dict[str, Factory] = {
    "openai": _vendor(OpenAICompatUpstream),
    "anthropic": _vendor(AnthropicUpstream),
    "azure": _azure,
    "gemini": _vendor(OpenAICompatUpstream),  # Gemini's OpenAI-compatible endpoint
    "pool": _pool,
    **dict.fromkeys(LITELLM_KINDS, _litellm),
}


def build_upstreams(
    config: Config, settings: Settings, env: Mapping[str, str]
) -> dict[str, Upstream]:
    """One pooled client per provider."""
    out: dict[str, Upstream] = {}
    for dep in config.deployments.values():
        if dep.provider not in out:
            out[dep.provider] = FACTORIES[dep.kind](dep, settings, env)
    return out
