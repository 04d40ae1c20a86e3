"""Write a providers.yaml that points the gateway at running simulated vendors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from gateway.sim.server import SimVendor


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
) -> str:
    """providers.yaml text: one provider per vendor, every model it serves, at the given price."""
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
        provider: dict[str, object] = {"kind": "openai", "base_url": vendor.base_url}
        if limits and name in limits:
            provider["limits"] = dict(limits[name])
        provider["models"] = {model: model_spec for model in vendor.spec.models}
        providers[name] = provider
    return yaml.safe_dump({"providers": providers}, sort_keys=False)
