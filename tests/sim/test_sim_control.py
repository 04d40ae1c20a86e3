"""Driving simulated vendors: run-time behaviour changes, stats, fleets and the CLI entry point."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.sim import SimConfig, SimVendor, VendorSpec, run_sim, serve_forever
from gateway.sim.answer import split_model

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    StartVendor = Callable[..., Awaitable[SimVendor]]

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


async def _chat(client: httpx.AsyncClient, vendor: SimVendor, **body: Any) -> httpx.Response:
    return await client.post(f"{vendor.base_url}/chat/completions", json={**BODY, **body})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m", ("m", None, None)),
        ("llama-3.3-70b-ttft-800ms", ("llama-3.3-70b", 800.0, None)),
        ("m-error-503", ("m", None, 503)),
        ("m-ttft-5ms-error-429", ("m", 5.0, 429)),
        ("m-error-42", ("m-error-42", None, None)),
    ],
)
def test_split_model(name: str, expected: tuple[str, float | None, int | None]) -> None:
    assert split_model(name) == expected


def test_base_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError):
        _ = SimVendor("idle", VendorSpec()).base_url


async def test_set_behaviour(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    assert (await _chat(client, vendor)).status_code == 200
    vendor.set_behaviour(error_rate=1.0, error_status=503)
    assert (await _chat(client, vendor)).status_code == 503
    vendor.set_behaviour(error_rate=0.0, ttft_ms=2, tokens_per_s=5_000)
    assert (await _chat(client, vendor)).status_code == 200
    assert vendor.spec.ttft_ms == 2


def test_set_behaviour_refuses_bad_changes() -> None:
    vendor = SimVendor("v", VendorSpec())
    with pytest.raises(ValueError, match="port"):
        vendor.set_behaviour(port=8080)
    with pytest.raises(ValidationError):
        vendor.set_behaviour(error_rate=2.0)
    assert vendor.spec == VendorSpec()


async def test_control_endpoint(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    control = f"{vendor.root_url}/_sim/control"
    resp = await client.post(control, json={"error_rate": 1, "error_status": 429})
    assert resp.status_code == 200
    assert resp.json()["error_status"] == 429
    assert (await _chat(client, vendor)).status_code == 429
    bad = await client.post(control, json={"models": ["x"]})
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}
    assert (await client.post(control, content=b"[]")).status_code == 400
    assert (await client.post(control, json={"error_rate": 0})).status_code == 200
    assert (await _chat(client, vendor)).status_code == 200


async def test_stats_and_reset(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(rpm=100)
    await _chat(client, vendor)
    await _chat(client, vendor, n=2)
    await _chat(client, vendor, model="unknown")
    streamed = await _chat(client, vendor, stream=True)
    assert streamed.text.endswith("data: [DONE]\n\n")
    stats = vendor.stats
    assert stats.requests == 4
    assert stats.by_status == {200: 3, 404: 1}
    assert stats.streamed == 1
    assert stats.prompt_tokens == 3 * 2
    assert stats.completion_tokens == 8 + 16 + 8
    assert stats.in_flight == 0
    assert stats.max_in_flight == 1
    assert len(stats.timestamps) == 4
    remote = (await client.get(f"{vendor.root_url}/_sim/stats")).json()
    assert remote == {"name": "sim", "base_url": vendor.base_url, **stats.to_dict()}
    assert remote["by_status"] == {"200": 3, "404": 1}
    zeroed = (await client.post(f"{vendor.root_url}/_sim/reset")).json()
    assert zeroed["requests"] == zeroed["completion_tokens"] == 0
    assert zeroed["by_status"] == {}
    assert not stats.timestamps
    after = await _chat(client, vendor)
    assert after.headers["x-ratelimit-remaining-requests"] == "99"


async def test_models_endpoint(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor("acme", models=["a", "b"])
    body = (await client.get(f"{vendor.base_url}/models")).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["a", "b"]
    assert {m["owned_by"] for m in body["data"]} == {"acme"}
    assert vendor.stats.requests == 0


async def test_run_sim_starts_and_stops_a_fleet(client: httpx.AsyncClient) -> None:
    spec = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=100_000)
    config = SimConfig(vendors={"one": spec, "two": spec})
    async with run_sim(config) as vendors:
        assert set(vendors) == {"one", "two"}
        assert vendors["one"].base_url != vendors["two"].base_url
        for vendor in vendors.values():
            assert (await _chat(client, vendor)).status_code == 200
        url = vendors["one"].base_url
    with pytest.raises(httpx.ConnectError):
        await client.get(f"{url}/models")


async def test_serve_forever_prints_vendors_until_cancelled(
    tmp_path: Path, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("vendors:\n  budget: {models: [m], ttft_ms: 1, tokens_per_s: 10000}\n")
    task = asyncio.create_task(serve_forever(str(path)))
    out = ""
    for _ in range(500):
        out += capsys.readouterr().out
        if out or task.done():
            break
        await asyncio.sleep(0.01)
    [line] = out.splitlines()
    assert "budget" in line
    assert "models: m" in line
    [base_url] = [word for word in line.split() if word.startswith("http://")]
    resp = await client.post(f"{base_url}/chat/completions", json=BODY)
    assert resp.status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
