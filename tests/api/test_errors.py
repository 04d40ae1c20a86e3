"""Every malformed input gets its status and OpenAI's error shape: never a 500, never a trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

OK = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]


def assert_openai_error(r: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    assert "Traceback" not in err["message"]
    if param is not None:
        assert err["param"] == param
    return dict(err)


BAD_BODIES: list[tuple[bytes, str | None]] = [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b'{"messages": []}', "model"),
    (b'{"model": 5, "messages": []}', "model"),
    (b'{"model": "m"}', "messages"),
    (b'{"model": "m", "messages": []}', "messages"),
    (b'{"model": "m", "messages": "hi"}', "messages"),
    (b'{"model": "m", "messages": [1]}', "messages[0]"),
    (b'{"model": "m", "messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
    (b'{"model": "m", "messages": [{"role": "user"}], "temperature": "hot"}', "temperature"),
    (b'{"model": "m", "messages": [{"role": "user"}], "max_tokens": 0}', "max_tokens"),
    (b'{"model": "m", "messages": [{"role": "user"}], "max_tokens": 1.5}', "max_tokens"),
    (b'{"model": "m", "messages": [{"role": "user"}], "stream": "yes"}', "stream"),
    (b'{"model": "m", "messages": [{"role": "user"}], "tools": {}}', "tools"),
    (b'{"model": "m", "messages": [{"role": "user"}], "n": true}', "n"),
    (
        b'{"model": "m", "messages": [{"role": "user"}], "gateway": {"sort": "random"}}',
        "gateway.sort",
    ),
    (b'{"model": "m", "messages": [{"role": "user"}], "gateway": {"bogus": 1}}', "gateway"),
    (b'{"model": "m", "messages": [{"role": "user"}], "gateway": {"only": "a"}}', "gateway.only"),
]


async def test_malformed_requests_get_400_in_openai_shape(fleet: FleetFactory) -> None:
    async with fleet({"a": OK}, {"a": (0.1, 0.1)}) as f, httpx.AsyncClient(base_url=f.url) as http:
        for body, param in BAD_BODIES:
            r = await http.post(
                "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            err = assert_openai_error(r, 400, param)
            assert err["type"] == "invalid_request_error"
        assert f.vendors["a"].stats.requests == 0  # nothing malformed went upstream


async def test_unknown_model_404_and_unknown_path_404(fleet: FleetFactory) -> None:
    async with fleet({"a": OK}, {"a": (0.1, 0.1)}) as f, httpx.AsyncClient(base_url=f.url) as http:
        r = await http.post("/v1/chat/completions", json={"model": "nope", "messages": MSG})
        assert assert_openai_error(r, 404, "model")["code"] == "model_not_found"
        assert_openai_error(await http.get("/v1/nothing-here"), 404)
        assert_openai_error(await http.get("/v1/chat/completions"), 405)


async def test_body_over_the_limit_is_413(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": OK}, {"a": (0.1, 0.1)}, max_body_bytes=2048) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
        assert_openai_error(await http.post("/v1/chat/completions", json=big), 413)

        async def chunks() -> Any:  # no content-length: the limit applies while it streams in
            yield b'{"model": "m", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}]}'

        assert_openai_error(await http.post("/v1/chat/completions", content=chunks()), 413)


@pytest.mark.parametrize(
    ("spec", "status", "code"),
    [
        (VendorSpec(models=["m"], error_rate=1.0, error_status=500), 502, "upstream_error"),
        (VendorSpec(models=["m"], error_rate=1.0, error_status=429), 429, "rate_limit_exceeded"),
        (VendorSpec(models=["m"], error_rate=1.0, error_status=503), 502, "upstream_error"),
    ],
)
async def test_no_upstream_could_serve(
    fleet: FleetFactory, spec: VendorSpec, status: int, code: str
) -> None:
    async with (
        fleet({"a": spec, "b": spec}, {"a": (0.1, 0.1), "b": (0.2, 0.2)}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert assert_openai_error(r, status)["code"] == code
        assert "a/m" in r.json()["error"]["message"] and "b/m" in r.json()["error"]["message"]
        if status == 429:
            assert int(r.headers["retry-after"]) >= 1


async def test_unreachable_upstream_is_502_and_timeout_is_504(fleet: FleetFactory) -> None:
    slow = VendorSpec(models=["m"], ttft_ms=3000)
    async with (
        fleet({"a": slow}, {"a": (0.1, 0.1)}, read_timeout_s=0.2) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert assert_openai_error(r, 504)["code"] == "upstream_timeout"
        await f.vendors["a"].stop()
        r = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert assert_openai_error(r, 502)["code"] == "upstream_error"


async def test_upstream_request_error_is_passed_through_not_retried(fleet: FleetFactory) -> None:
    bad = VendorSpec(models=["m"], error_rate=1.0, error_status=400)
    async with (
        fleet({"a": bad, "b": bad}, {"a": (0.1, 0.1), "b": (0.2, 0.2)}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert_openai_error(r, 400)
        assert f.vendors["a"].stats.requests + f.vendors["b"].stats.requests == 1


async def test_master_key_is_required_when_set(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": OK}, {"a": (0.1, 0.1)}, master_key="sk-gw-secret") as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = {"model": "m", "messages": MSG}
        r = await http.post("/v1/chat/completions", json=body)
        err = assert_openai_error(r, 401)
        assert "sk-gw-secret" not in r.text and err["type"] == "authentication_error"
        r = await http.post(
            "/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-gw-secret"}
        )
        assert r.status_code == 200
        assert (await http.get("/healthz")).status_code == 200  # probes need no key
