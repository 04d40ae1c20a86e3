"""Build config objects for unit tests with only the fields a test cares about."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.config.runtime import Deployment

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
