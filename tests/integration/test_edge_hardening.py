"""Hostile clients at the HTTP edge (issue 12): oversized and trickled headers, bytes that are not
HTTP, bodies nested past any sane depth, and what anonymous callers may learn."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from gateway.api import http_guard
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes in pieces, stopping as soon as the server answers; return its answer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    answer = b""
    try:
        for i in range(0, len(data), 16384):
            try:
                writer.write(data[i : i + 16384])
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(65536), 0.005)
            except TimeoutError:
                continue  # no answer yet: keep sending
            except (ConnectionResetError, BrokenPipeError):
                break
            break
        while chunk := await asyncio.wait_for(reader.read(65536), 10):
            answer += chunk
    except ConnectionResetError:
        pass  # the server closed on the rest of our bytes: its answer came first
    finally:
        writer.close()
    return answer


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, orjson.loads(body)["error"]


async def test_an_oversized_header_is_refused_431_and_others_are_served_meanwhile(
    fleet: FleetFactory,
) -> None:
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        big = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-junk: " + b"a" * (8 * 1024 * 1024)
        sending = asyncio.create_task(raw_exchange(f.url, big))
        async with httpx.AsyncClient(base_url=f.url) as http:
            assert (await http.get("/healthz")).status_code == 200
        status, error = status_and_error(await sending)
        assert status == 431 and error["code"] == "headers_too_large"


async def test_too_many_headers_are_refused_431(fleet: FleetFactory) -> None:
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        many = b"".join(b"x-h%d: v\r\n" % i for i in range(http_guard.MAX_HEADERS + 5))
        answer = await raw_exchange(f.url, b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
        status, error = status_and_error(answer)
        assert status == 431 and error["code"] == "too_many_headers"


async def test_headers_trickled_past_the_timeout_get_408(
    fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_guard, "HEADER_TIMEOUT_S", 0.3)
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        answer = await raw_exchange(f.url, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        status, error = status_and_error(answer)
        assert status == 408 and error["code"] == "request_timeout"


async def test_bytes_that_are_not_http_get_a_400_in_openai_shape(fleet: FleetFactory) -> None:
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        status, error = status_and_error(await raw_exchange(f.url, b"\x16\x03\x01garbage\r\n\r\n"))
        assert status == 400 and error["code"] == "invalid_http"
        assert set(error) == {"message", "type", "param", "code"}


async def test_a_body_nested_300_deep_is_a_400_and_leaks_no_slot(fleet: FleetFactory) -> None:
    limits = {"a": {"max_concurrency": 1}}
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}, limits=limits) as f:
        deep = b"[" * 300 + b"1" + b"]" * 300  # what orjson itself refuses to write
        body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": '
        body += b'{"x": ' + deep + b"}}"
        async with httpx.AsyncClient(base_url=f.v1) as http:
            for _ in range(3):  # each would have held the only slot for good
                r = await http.post("/chat/completions", content=body)
                assert r.status_code == 400
                assert "nested deeper" in r.json()["error"]["message"]
            ok = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            assert (await http.post("/chat/completions", json=ok)).status_code == 200


async def test_anonymous_callers_learn_readiness_only_and_admin_routes_are_not_advertised(
    fleet: FleetFactory,
) -> None:
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.2)}, master_key="mk-secret") as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        anonymous = await http.get("/readyz")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ready"}
        admin = await http.get("/readyz", headers={"authorization": "Bearer mk-secret"})
        assert "unavailable_providers" in admin.json()
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith("/admin")]
