"""Write a providers.yaml that points the gateway at running simulated vendors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from gateway.sim.server import SimVendor


def api_key_env(name: str) -> str:
    """The environment variable an anthropic vendor's providers.yaml entry names for its key,
    e.g. `SIM_CLAUDE_FAST_API_KEY` for `claude-fast` (see `api_key_envs`)."""
    return "SIM_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_API_KEY"


def api_key_envs(vendors: Mapping[str, SimVendor]) -> dict[str, str]:
    """The variables `providers_yaml` names, with the keys to set them to before the gateway
    loads it (e.g. `monkeypatch.setenv(env, key)` for each)."""
    return {
        api_key_env(name): vendor.spec.api_key
        for name, vendor in vendors.items()
        if vendor.spec.dialect == "anthropic" and vendor.spec.api_key is not None
    }


def _provider(name: str, vendor: SimVendor) -> dict[str, object]:
    """An openai vendor by its /v1 base URL; an anthropic one by its root (kind anthropic adds
    /v1/messages itself), with `api_key_env` when it checks a key."""
    if vendor.spec.dialect != "anthropic":
        return {"kind": "openai", "base_url": vendor.base_url}
    provider: dict[str, object] = {"kind": "anthropic", "base_url": vendor.root_url}
    if vendor.spec.api_key is not None:
        provider["api_key_env"] = api_key_env(name)
    return provider


@dataclass(frozen=True, slots=True)
class SimPrice:
    input_per_mtok: float
    output_per_mtok: float


def providers_yaml(
    vendors: Mapping[str, SimVendor],
    prices: Mapping[str, SimPrice],
    *,
    capabilities: Mapping[str, list[str]] | None = None,
    limits: Mapping[str, Mapping[str, int]] | None = None,
    operations: Mapping[str, list[str]] | None = None,
    typical_ttft: bool = False,
) -> str:
    """providers.yaml text: one provider per vendor, every model it serves, at the given price
    (and, with typical_ttft, the vendor's TTFT as its published `typical_ttft_ms`)."""
    providers: dict[str, object] = {}
    for name, vendor in vendors.items():
        price = prices[name]
        model_spec: dict[str, object] = {
            "price": {
                "input_per_mtok": price.input_per_mtok,
                "output_per_mtok": price.output_per_mtok,
            }
        }
        if capabilities and name in capabilities:
            model_spec["capabilities"] = capabilities[name]
        if operations and name in operations:
            model_spec["operations"] = operations[name]
        if typical_ttft and vendor.spec.ttft_ms > 0:
            model_spec["typical_ttft_ms"] = vendor.spec.ttft_ms
        provider = _provider(name, vendor)
        if limits and name in limits:
            provider["limits"] = dict(limits[name])
        provider["models"] = {model: model_spec for model in vendor.spec.models}
        providers[name] = provider
    return yaml.safe_dump({"providers": providers}, sort_keys=False)
