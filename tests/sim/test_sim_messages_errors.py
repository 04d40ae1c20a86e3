"""A simulated Anthropic vendor's refusals and faults (Anthropic's error shapes and statuses),
the last request it received (raw bytes and headers), its model list, and its providers.yaml
entry."""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from gateway.config.providers import ProvidersFile
from gateway.sim.catalog import SimPrice, api_key_env, api_key_envs, providers_yaml

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from gateway.sim import SimVendor

    StartVendor = Callable[..., Awaitable[SimVendor]]

KEY = "sk-ant-sim"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sim", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


async def _anthropic(start_vendor: StartVendor, **fields: Any) -> SimVendor:
    fields = {"dialect": "anthropic", "models": ["claude-sim"], "api_key": KEY, **fields}
    return await start_vendor("claude", **fields)


async def _post(client: httpx.AsyncClient, vendor: SimVendor, **kw: Any) -> httpx.Response:
    kw.setdefault("json", BODY)
    kw.setdefault("headers", HEADERS)
    return await client.post(f"{vendor.root_url}/v1/messages", **kw)


def _error(resp: httpx.Response, kind: str) -> str:
    """The message of an Anthropic error body of type `kind` (the shape checked exactly)."""
    body = resp.json()
    assert body == {"type": "error", "error": {"type": kind, "message": body["error"]["message"]}}
    message: str = body["error"]["message"]
    return message


async def test_authentication(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor)
    version = {"anthropic-version": "2023-06-01"}
    missing = await _post(client, vendor, headers=version)
    assert missing.status_code == 401
    assert _error(missing, "authentication_error") == "x-api-key header is required"
    wrong = await _post(client, vendor, headers={**version, "x-api-key": "nope"})
    assert wrong.status_code == 401
    assert _error(wrong, "authentication_error") == "invalid x-api-key"
    bearer = await _post(client, vendor, headers={**version, "Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401  # Anthropic takes the key in x-api-key only
    assert (await _post(client, vendor)).status_code == 200
    assert vendor.stats.by_endpoint == {"/v1/messages": {401: 3, 200: 1}}


async def test_anthropic_version_is_required(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor, api_key=None)
    resp = await _post(client, vendor, headers={})
    assert resp.status_code == 400
    assert _error(resp, "invalid_request_error") == "anthropic-version: header is required"
    counted = await client.post(f"{vendor.root_url}/v1/messages/count_tokens", json=BODY)
    assert counted.status_code == 400
    assert (await _post(client, vendor, headers={"anthropic-version": "x"})).status_code == 200


async def test_unknown_model_and_bad_json(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    missing = await _post(client, vendor, json={**BODY, "model": "claude-9"})
    assert missing.status_code == 404
    assert _error(missing, "not_found_error") == "model: claude-9"
    broken = await _post(client, vendor, content=b"{oops")
    assert broken.status_code == 400
    _error(broken, "invalid_request_error")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(529, "overloaded_error"), (500, "api_error"), (503, "api_error"), (429, "rate_limit_error")],
)
async def test_simulated_errors(
    start_vendor: StartVendor, client: httpx.AsyncClient, status: int, kind: str
) -> None:
    vendor = await _anthropic(start_vendor, error_rate=1.0, error_status=status)
    resp = await _post(client, vendor)
    assert resp.status_code == status
    message = _error(resp, kind)
    if status == 529:
        assert message == "Overloaded"
    forced = await _post(client, vendor, json={**BODY, "model": "claude-sim-error-529"})
    assert forced.status_code == 529
    _error(forced, "overloaded_error")


async def test_rate_limits(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, rpm=2, tpm=10_000)
    first = await _post(client, vendor)
    assert first.status_code == 200
    assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert first.headers["anthropic-ratelimit-tokens-limit"] == "10000"
    assert int(first.headers["anthropic-ratelimit-tokens-remaining"]) < 10_000
    assert "x-ratelimit-limit-requests" not in first.headers
    assert (await _post(client, vendor)).status_code == 200
    limited = await _post(client, vendor)
    assert limited.status_code == 429
    assert "rate limit" in _error(limited, "rate_limit_error")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["anthropic-ratelimit-requests-remaining"] == "0"


async def test_outage_is_overloaded(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, outages=[{"start_s": 0, "end_s": 3600}])
    resp = await _post(client, vendor)
    assert resp.status_code == 529
    _error(resp, "overloaded_error")


async def _raw_stream(client: httpx.AsyncClient, vendor: SimVendor) -> bytes:
    body = {**BODY, "stream": True}
    url = f"{vendor.root_url}/v1/messages"
    async with client.stream("POST", url, json=body, headers=HEADERS) as resp:
        chunks = []
        try:
            async for chunk in resp.aiter_bytes():
                chunks.append(chunk)
        except httpx.RemoteProtocolError:
            pass
    return b"".join(chunks)


async def test_stream_faults(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, fault="cut", fault_after_chunks=3)
    cut = await _raw_stream(client, vendor)
    names = [block.split(b"\n")[0] for block in cut.split(b"\n\n")[:-1]]
    assert names == [b"event: message_start", b"event: ping", b"event: content_block_start"]
    vendor.set_behaviour(fault="malformed", fault_after_chunks=1000)  # before message_stop
    broken = (await _raw_stream(client, vendor)).split(b"\n\n")
    assert broken[-3] == b"event: content_block_delta\ndata: {broken"
    assert broken[-2].startswith(b"event: message_stop\n")
    assert vendor.stats.faults == 2


async def test_reply_faults(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, fault="malformed")
    resp = await _post(client, vendor)
    assert resp.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 (any JSON decode error)
        resp.json()
    vendor.set_behaviour(fault="reset")
    with pytest.raises(httpx.TransportError):
        await _post(client, vendor)
    assert vendor.stats.resets == 1


async def test_last_request_keeps_the_raw_body_and_headers(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    assert vendor.last_request is None
    raw = (
        b'{"max_tokens": 50,  "model":"claude-sim",\n "messages":[{"role":"user","content":"hi"}]}'
    )
    headers = {**HEADERS, "anthropic-beta": "prompt-caching-2024-07-31", "X-Custom": "A b"}
    resp = await _post(client, vendor, content=raw, headers=headers)
    assert resp.status_code == 200
    last = vendor.last_request
    assert last is not None
    assert (last.method, last.path, last.body) == ("POST", "/v1/messages", raw)
    assert last.json()["max_tokens"] == 50
    assert last.headers["Anthropic-Beta"] == "prompt-caching-2024-07-31"
    assert last.headers["x-custom"] == "A b"
    assert last.headers["x-api-key"] == KEY
    remote = (await client.get(f"{vendor.root_url}/_sim/last_request")).json()
    assert base64.b64decode(remote["body_base64"]) == raw
    assert ["anthropic-version", "2023-06-01"] in remote["headers"]
    assert (remote["method"], remote["path"]) == ("POST", "/v1/messages")
    refused = await _post(client, vendor, content=b"{}", headers={"anthropic-version": "1"})
    assert refused.status_code == 401
    assert vendor.last_request is not None
    assert vendor.last_request.body == b"{}"  # refused requests are recorded too


async def test_last_request_on_an_openai_vendor(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    assert (await client.get(f"{vendor.root_url}/_sim/last_request")).json() is None
    raw = b'{"model": "m", "input": "x"}'
    await client.post(f"{vendor.base_url}/embeddings", content=raw)
    assert vendor.last_request is not None
    assert (vendor.last_request.path, vendor.last_request.body) == ("/v1/embeddings", raw)


async def test_models_list(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, models=["claude-a", "claude-b"])
    url = f"{vendor.root_url}/v1/models"
    assert (await client.get(url)).status_code == 401
    body = (await client.get(url, headers=HEADERS)).json()
    assert body == {
        "data": [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in ("claude-a", "claude-b")
        ],
        "has_more": False,
        "first_id": "claude-a",
        "last_id": "claude-b",
    }


async def test_an_anthropic_vendor_serves_no_openai_endpoints(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        assert (await client.post(f"{vendor.root_url}{path}", json={})).status_code == 404
    openai_vendor = await start_vendor()
    assert (await client.post(f"{openai_vendor.root_url}/v1/messages", json={})).status_code == 404


async def test_providers_yaml(start_vendor: StartVendor) -> None:
    claude = await _anthropic(start_vendor)
    keyless = await start_vendor("claude-2", dialect="anthropic", models=["claude-sim"])
    gpt = await start_vendor("gpt", api_key="sk-x")
    vendors = {"claude": claude, "claude-2": keyless, "gpt": gpt}
    price = SimPrice(input_per_mtok=3.0, output_per_mtok=15.0)
    text = providers_yaml(vendors, dict.fromkeys(vendors, price))
    providers = yaml.safe_load(text)["providers"]
    assert providers["claude"] == {
        "kind": "anthropic",
        "base_url": claude.root_url,
        "api_key_env": "SIM_CLAUDE_API_KEY",
        "models": {"claude-sim": {"price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}},
    }
    assert providers["claude-2"]["base_url"] == keyless.root_url
    assert "api_key_env" not in providers["claude-2"]
    assert providers["gpt"] == {  # unchanged: the /v1 base URL, no api_key_env
        "kind": "openai",
        "base_url": gpt.base_url,
        "models": {"m": {"price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}},
    }
    assert api_key_env("claude-2") == "SIM_CLAUDE_2_API_KEY"
    assert api_key_envs(vendors) == {"SIM_CLAUDE_API_KEY": KEY}
    ProvidersFile.model_validate(yaml.safe_load(text))  # the gateway accepts it


async def test_client_leaving_a_stream_is_counted(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor, tokens_per_s=50, output_tokens=1000)
    url = f"{vendor.root_url}/v1/messages"
    async with client.stream("POST", url, json={**BODY, "stream": True}, headers=HEADERS) as resp:
        async for _ in resp.aiter_bytes():
            break
    for _ in range(500):
        if vendor.stats.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert vendor.stats.in_flight == 0
    assert vendor.stats.disconnects == 1
