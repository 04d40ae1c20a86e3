"""A route's static constraints, checked against a deployment. Pure."""

from __future__ import annotations

from gateway.config.policies import Constraints
from gateway.config.runtime import Deployment


def violation(dep: Deployment, c: Constraints) -> str:
    """Why `dep` may not serve a route with constraints `c` ("" if it may)."""
    if c.max_input_price_per_mtok is not None and (
        dep.input_per_mtok is None or dep.input_per_mtok > c.max_input_price_per_mtok
    ):
        return f"input price above {c.max_input_price_per_mtok}/Mtok"
    if c.max_output_price_per_mtok is not None and (
        dep.output_per_mtok is None or dep.output_per_mtok > c.max_output_price_per_mtok
    ):
        return f"output price above {c.max_output_price_per_mtok}/Mtok"
    if c.require and dep.capabilities is not None:
        missing = sorted(set(c.require) - dep.capabilities)
        if missing:
            return f"lacks required capability {', '.join(missing)}"
    if c.regions and dep.region not in c.regions:
        return f"region {dep.region or 'unknown'} not in {', '.join(c.regions)}"
    if c.tags and not dep.tags & set(c.tags):
        return f"provider has none of the tags {', '.join(c.tags)}"
    if c.min_context_window and (dep.context_window or 0) < c.min_context_window:
        return f"context window under {c.min_context_window}"
    return ""
