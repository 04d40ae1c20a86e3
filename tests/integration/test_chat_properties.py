"""Property: whatever a client sends and whatever usage a vendor reports, the chat path never
answers 500, every error has OpenAI's four keys, no slot or reservation leaks, and the ledger
database refuses no row (issue 12).

One gateway (Postgres ledger, a one-slot deployment) and one echo vendor run on a loop in a
background thread; hypothesis drives requests at it from the test's thread. The vendor reports
as usage whatever the request carried in `metadata.usage`, so random usage values reach the
gateway the way a broken vendor would send them. The TPM limit is above what 150 requests can
use once counts are clamped (10 million each), and below what unclamped counts would take.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.settings import Settings
from tests.conftest import postgres_schema

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
COUNTS = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.none()
    | st.booleans()
)
USAGE = st.none() | st.fixed_dictionaries(
    {"prompt_tokens": COUNTS, "completion_tokens": COUNTS},
    optional={
        "prompt_tokens_details": st.fixed_dictionaries({"cached_tokens": COUNTS}),
        "completion_tokens_details": st.fixed_dictionaries({"reasoning_tokens": COUNTS}),
    },
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALID_MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant"]), "content": st.text(max_size=300)}
    ),
    min_size=1,
    max_size=3,
)
EXTRAS = {
    "max_tokens": st.integers(1, 2**62) | ANY_JSON,
    "n": st.integers(1, 3) | ANY_JSON,
    "temperature": st.floats(0, 2) | ANY_JSON,
    "stream": st.booleans() | ANY_JSON,
    "gateway": st.fixed_dictionaries({"only": st.lists(st.sampled_from(["v", "x"]))}) | ANY_JSON,
}


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Mostly well-formed chat bodies carrying random usage for the vendor to report, with
    random extras; a share mangled (bad messages, odd model names, deep nesting, torn JSON)."""
    mangled = draw(st.integers(0, 3)) == 0
    body: dict[str, Any] = {
        "model": draw(st.sampled_from(["m", "v/m", "nope", "m\x00"]) | st.text(max_size=8))
        if mangled
        else "m",
        "messages": draw(VALID_MESSAGES | ANY_JSON) if mangled else draw(VALID_MESSAGES),
        "metadata": {"usage": draw(USAGE)},
    }
    for key in draw(st.sets(st.sampled_from(sorted(EXTRAS)))):
        body[key] = draw(EXTRAS[key])
    if mangled and draw(st.booleans()):
        body["metadata"]["deep"] = nested(draw(st.integers(1, 1000)))
    raw = _dumps(body)
    cut = draw(st.integers(0, 20)) if mangled else 0
    return raw[: len(raw) - cut] if cut > 15 else raw  # now and then, torn JSON


def _dumps(body: dict[str, Any]) -> bytes:
    """json (not orjson: it refuses ints past 64 bits and nesting past 254 levels), with any
    deep nesting spliced in by hand."""
    deep = body["metadata"].pop("deep", None)
    raw = json.dumps(body).encode()
    if deep is None:
        return raw
    depth = 0
    while isinstance(deep, list):
        deep, depth = deep[0], depth + 1
    return raw[:-2] + b',"deep":' + b"[" * depth + b"1" + b"]" * depth + b"}}"


async def echo_vendor(request: web.Request) -> web.StreamResponse:
    """An OpenAI-compatible vendor that reports the usage the request asked it to."""
    body = await request.json()
    metadata = body.get("metadata")
    usage = metadata.get("usage") if isinstance(metadata, dict) else None
    if body.get("stream"):
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        tail: dict[str, Any] = {"choices": [], "usage": usage}
        await response.write(b"data: " + orjson.dumps(tail) + b"\n\ndata: [DONE]\n\n")
        return response
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    return web.json_response({**reply, "usage": usage})


@dataclass
class Live:
    url: str
    spool: Path
    stop: Callable[[], None]  # stops the gateway: its ledger flushes every row first


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    loop = asyncio.new_event_loop()
    ready: Future[Live] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", echo_vendor)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        (tmp_path / "policies").mkdir()
        (tmp_path / "providers.yaml").write_text(
            f"providers:\n  v:\n    base_url: http://127.0.0.1:{port}/v1\n"
            "    limits: {max_concurrency: 1, tpm: 10000000000}\n"
            "    models:\n      m: {price: {input_per_mtok: 1.0, output_per_mtok: 2.0}}\n"
        )
        try:
            async with postgres_schema() as database_url:
                settings = Settings(
                    providers=tmp_path / "providers.yaml",
                    policies=tmp_path / "policies",
                    database_url=database_url,
                    ledger_migrate=True,
                    ledger_spool_dir=tmp_path / "spool",
                    auth=False,  # loopback: the property is about bodies, not keys
                )
                async with serve_in_loop(create_app(settings, env={})) as url:
                    ready.set_result(Live(url, tmp_path / "spool", halt))
                    await stop.wait()
        finally:
            await runner.cleanup()

    def halt() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
            thread.join(30)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=30)
    finally:
        halt()
        loop.close()


def test_the_chat_path_never_500s_never_leaks_and_never_loses_a_row(live: Live) -> None:
    http = httpx.Client(base_url=live.url, timeout=10)
    seen: list[int] = []

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(raw=bodies())
    def one(raw: bytes) -> None:
        r = http.post("/v1/chat/completions", content=raw)
        seen.append(r.status_code)
        assert r.status_code != 500, r.text
        if r.status_code >= 400:
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}

    one()
    assert 200 in seen  # the generator did reach the vendor
    ok = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):  # the one slot is free (a leak would make these 429)
        assert http.post("/v1/chat/completions", json=ok).status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the snapshot /admin reads refreshes every 250 ms
        rows = http.get("/admin/providers").json()["deployments"]
        if all(d["in_flight"] == 0 for d in rows):
            break
        time.sleep(0.1)
    assert all(d["in_flight"] == 0 for d in rows), rows
    http.close()
    live.stop()  # the ledger writes every row before the gateway is down
    rejected = live.spool / "rejected"
    assert not rejected.exists() or not any(rejected.iterdir())
