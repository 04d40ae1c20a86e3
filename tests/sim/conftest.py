"""Fixtures for simulator tests: vendors on ephemeral loopback ports and an HTTP client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gateway.sim import SimVendor, VendorSpec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    StartVendor = Callable[..., Awaitable[SimVendor]]

# Fast enough that the suite runs in seconds; no test asserts on timing.
FAST = {"models": ["m"], "ttft_ms": 1, "tokens_per_s": 100_000, "output_tokens": 8}


@pytest.fixture
async def start_vendor() -> AsyncIterator[StartVendor]:
    """Start a vendor with FAST defaults overridden by keyword fields; stopped after the test."""
    vendors: list[SimVendor] = []

    async def start(name: str = "sim", **fields: Any) -> SimVendor:
        vendor = SimVendor(name, VendorSpec.model_validate({**FAST, **fields}))
        await vendor.start()
        vendors.append(vendor)
        return vendor

    yield start
    for vendor in vendors:
        await vendor.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http
