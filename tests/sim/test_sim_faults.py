"""Failures a simulated vendor produces: auth, validation, rate limits, errors, outages."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from gateway.sim import SimVendor

    StartVendor = Callable[..., Awaitable[SimVendor]]

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
FOREVER = [{"start_s": 0, "end_s": 3600}]


async def _chat(client: httpx.AsyncClient, vendor: SimVendor, **kw: Any) -> httpx.Response:
    kw.setdefault("json", BODY)
    return await client.post(f"{vendor.base_url}/chat/completions", **kw)


def _error(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for the server side to catch up with something the client did (bounded)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_unknown_model_is_404(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    resp = await _chat(client, vendor, json={**BODY, "model": "gpt-9"})
    assert resp.status_code == 404
    assert _error(resp)["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("content", "param"),
    [(b"{oops", None), (b'{"model": "m"}', "messages"), (b'{"messages": []}', "model")],
)
async def test_invalid_body_is_400(
    start_vendor: StartVendor, client: httpx.AsyncClient, content: bytes, param: str | None
) -> None:
    vendor = await start_vendor()
    resp = await client.post(f"{vendor.base_url}/chat/completions", content=content)
    assert resp.status_code == 400
    error = _error(resp)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_api_key_is_required(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(api_key="sk-sim")
    assert (await _chat(client, vendor)).status_code == 401
    wrong = await _chat(client, vendor, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert _error(wrong)["code"] == "invalid_api_key"
    good = {"Authorization": "Bearer sk-sim"}
    assert (await _chat(client, vendor, headers=good)).status_code == 200
    assert (await client.get(f"{vendor.base_url}/models")).status_code == 401
    assert (await client.get(f"{vendor.base_url}/models", headers=good)).status_code == 200


async def test_rpm_limit(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(rpm=3)
    remaining = []
    for _ in range(3):
        resp = await _chat(client, vendor)
        assert resp.status_code == 200
        remaining.append(resp.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    refused = await _chat(client, vendor)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert _error(refused)["code"] == "rate_limit_exceeded"
    assert vendor.stats.by_status == {200: 3, 429: 1}


async def test_tpm_limit(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(tpm=15)  # one request: 2 prompt + 8 completion tokens
    first = await _chat(client, vendor)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-tokens"] == "5"
    refused = await _chat(client, vendor)
    assert refused.status_code == 429
    assert _error(refused)["type"] == "tokens"
    assert "retry-after" in refused.headers


async def test_error_rate_one(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(error_rate=1.0, error_status=502)
    for _ in range(3):
        resp = await _chat(client, vendor)
        assert resp.status_code == 502
        assert _error(resp)["type"] == "server_error"
    assert vendor.stats.by_status == {502: 3}


async def test_error_draws_are_seeded(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    runs = []
    for name in ("a", "b"):
        vendor = await start_vendor(name, error_rate=0.5, seed=7)
        runs.append([(await _chat(client, vendor)).status_code for _ in range(12)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}


async def test_model_suffix_forces_an_error(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    resp = await _chat(client, vendor, json={**BODY, "model": "m-error-429"})
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    ok = await _chat(client, vendor, json={**BODY, "model": "m-ttft-2ms"})
    assert ok.status_code == 200
    assert ok.json()["model"] == "m-ttft-2ms"


async def test_outage_error_mode(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(outages=[{**FOREVER[0], "mode": "error"}])
    resp = await _chat(client, vendor)
    assert resp.status_code == 503
    assert _error(resp)["type"] == "server_error"


async def test_outage_reset_mode(
    start_vendor: StartVendor, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = await start_vendor(outages=[{**FOREVER[0], "mode": "reset"}])
    with caplog.at_level(logging.WARNING):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await _chat(client, vendor)
        await _until(lambda: vendor.stats.in_flight == 0)
    assert vendor.stats.resets == 1
    assert (await client.get(f"{vendor.root_url}/_sim/stats")).status_code == 200
    assert not caplog.records


async def test_outage_hang_until_client_leaves(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(outages=[{**FOREVER[0], "mode": "hang"}])
    with pytest.raises(httpx.ReadTimeout):
        await _chat(client, vendor, timeout=0.05)
    await _until(lambda: vendor.stats.disconnects == 1)
    assert vendor.stats.in_flight == 0
    assert vendor.stats.by_status == {}


async def test_outage_hang_answers_once_the_window_ends(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(outages=[{"start_s": 0, "end_s": 0.05, "mode": "hang"}])
    assert (await _chat(client, vendor)).status_code == 200


async def test_client_leaving_mid_stream(
    start_vendor: StartVendor, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = await start_vendor(tokens_per_s=500, output_tokens=100_000)
    body = {**BODY, "stream": True}
    with caplog.at_level(logging.WARNING):
        async with client.stream("POST", f"{vendor.base_url}/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                assert line.startswith("data: ")
                break
        await _until(lambda: vendor.stats.disconnects == 1)
        later = await _chat(client, vendor, json={**BODY, "max_tokens": 2})
    assert later.status_code == 200
    assert 1 <= vendor.stats.completion_tokens < 100_000
    assert vendor.stats.in_flight == 0
    assert not caplog.records
