"""Failures a simulated vendor produces: auth, validation, rate limits, errors, outages."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.sim import VendorSpec

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


# -- injected faults (VendorSpec.fault, settable at run time) ------------------------------


async def _events(
    client: httpx.AsyncClient, vendor: SimVendor, read_timeout: float = 10
) -> tuple[list[str], BaseException | None]:
    """The `data:` lines of one streamed answer, and the error that ended the read, if any."""
    lines: list[str] = []
    body = {**BODY, "stream": True}
    try:
        url = f"{vendor.base_url}/chat/completions"
        async with client.stream("POST", url, json=body, timeout=read_timeout) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line:
                    lines.append(line)
    except httpx.HTTPError as exc:
        return lines, exc
    return lines, None


async def test_stream_cut_after_n_chunks(
    start_vendor: StartVendor,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vendor = await start_vendor(fault="cut", fault_after_chunks=3)
    with caplog.at_level(logging.WARNING):
        lines, error = await _events(client, vendor)
    assert isinstance(error, httpx.RemoteProtocolError)  # closed mid-body: no final chunk
    assert len(lines) == 3 and "data: [DONE]" not in lines
    assert vendor.stats.faults == 1
    await _until(lambda: vendor.stats.in_flight == 0)
    vendor.set_behaviour(fault="none")
    lines, error = await _events(client, vendor)
    assert error is None and lines[-1] == "data: [DONE]"
    assert not caplog.records  # a cut on purpose is not a server error


async def test_stream_cut_before_any_chunk_and_after_the_last(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(fault="cut", fault_after_chunks=0)
    lines, error = await _events(client, vendor)
    assert error is not None and lines == []
    vendor.set_behaviour(fault_after_chunks=1000)  # longer than the answer: cut before [DONE]
    lines, error = await _events(client, vendor)
    assert error is not None and len(lines) == 8 + 1 and "data: [DONE]" not in lines


async def test_stream_stall_keeps_the_connection_open_until_cleared(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(fault="stall", fault_after_chunks=2)
    lines, error = await _events(client, vendor, read_timeout=0.2)
    assert isinstance(error, httpx.ReadTimeout)
    assert len(lines) == 2
    await _until(lambda: vendor.stats.disconnects == 1)
    waiting = asyncio.create_task(_events(client, vendor))
    await _until(lambda: vendor.stats.faults == 2 and vendor.stats.in_flight == 1)
    await asyncio.sleep(0.05)
    assert not waiting.done()
    vendor.set_behaviour(fault="none")  # the stall ends: the stream goes on
    lines, error = await waiting
    assert error is None and lines[-1] == "data: [DONE]" and len(lines) == 8 + 2


async def test_stream_malformed_event(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(fault="malformed", fault_after_chunks=2)
    lines, error = await _events(client, vendor)
    assert error is None
    assert lines[2] == "data: {broken"
    assert lines[-1] == "data: [DONE]" and len(lines) == 8 + 3


async def test_malformed_reply_is_a_200_that_is_not_json(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    resp = await client.post(f"{vendor.root_url}/_sim/control", json={"fault": "malformed"})
    assert resp.json()["fault"] == "malformed"
    resp = await _chat(client, vendor)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        resp.json()
    assert vendor.stats.by_status == {200: 1}


async def test_reply_cut_or_stalled_half_way(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(fault="cut")
    with pytest.raises(httpx.RemoteProtocolError):
        await _chat(client, vendor)
    vendor.set_behaviour(fault="stall")
    with pytest.raises(httpx.ReadTimeout):
        await _chat(client, vendor, timeout=0.2)
    waiting = asyncio.create_task(_chat(client, vendor))
    await _until(lambda: vendor.stats.faults == 3 and vendor.stats.in_flight == 1)
    vendor.set_behaviour(fault="none")
    resp = await waiting
    assert resp.status_code == 200 and resp.json()["choices"]


async def test_reset_and_hang_faults_at_run_time(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    vendor.set_behaviour(fault="reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await _chat(client, vendor)
    assert vendor.stats.resets == 1
    vendor.set_behaviour(fault="hang")
    with pytest.raises(httpx.ReadTimeout):
        await _chat(client, vendor, timeout=0.05)
    await _until(lambda: vendor.stats.disconnects == 1)
    waiting = asyncio.create_task(_chat(client, vendor))
    await _until(lambda: vendor.stats.faults == 3 and vendor.stats.in_flight == 1)
    vendor.set_behaviour(fault="none")  # the hang ends: the request is answered
    assert (await waiting).status_code == 200


async def test_fault_rate_is_seeded(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    runs = []
    for name in ("a", "b"):
        vendor = await start_vendor(name, fault="malformed", fault_rate=0.5, seed=3)
        statuses = []
        for _ in range(12):
            resp = await _chat(client, vendor)
            statuses.append(resp.content.endswith(b"}"))
        runs.append(statuses)
        assert vendor.stats.faults == statuses.count(False)
    assert runs[0] == runs[1]
    assert set(runs[0]) == {True, False}


def test_fault_fields_are_validated() -> None:
    with pytest.raises(ValidationError, match="fault"):
        VendorSpec.model_validate({"fault": "explode"})
    with pytest.raises(ValidationError, match="fault_rate"):
        VendorSpec(fault_rate=1.5)
    with pytest.raises(ValidationError, match="fault_after_chunks"):
        VendorSpec(fault_after_chunks=-1)
