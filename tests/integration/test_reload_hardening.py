"""Hot reload of hostile files: the watcher survives, /admin/reload says 422, serving goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from watchfiles import awatch

from gateway.config.loader import load_config
from gateway.config.runtime import Config
from gateway.reload import Reloader
from gateway.sim import VendorSpec
from tests.config.test_config_bombs import DEEP_FLOW, alias_bomb
from tests.conftest import FleetFactory

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]
PRICES = {"a": (0.1, 0.1), "b": (1.0, 1.0)}
ONLY = "routes:\n  chat:\n    targets: [{target}]\n    strategy: cheapest\n"


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.02)


async def routed_to(http: httpx.AsyncClient) -> str:
    r = await http.post("/v1/chat/completions", json={"model": "chat", "messages": MSG})
    assert r.status_code == 200, r.text
    return r.headers["x-gateway-provider"]


async def last_error(http: httpx.AsyncClient) -> list[str]:
    return (await http.get("/admin/config")).json()["last_error"] or []


async def test_watcher_survives_a_deep_file_and_loads_the_next_good_edit(
    fleet: FleetFactory,
) -> None:
    async with fleet({"a": FAST, "b": FAST}, PRICES, policies=ONLY.format(target="a/m")) as f:
        policy = f.providers_file.parent / "policies" / "test.yaml"
        async with httpx.AsyncClient(base_url=f.url) as http:
            assert await routed_to(http) == "a"
            policy.write_text(DEEP_FLOW)

            async def refused() -> bool:
                return any("nested deeper than 64 levels" in e for e in await last_error(http))

            await until(refused, "the watcher reports the deep file")
            (problem,) = await last_error(http)
            assert problem.startswith(f"{policy}:1: ")
            assert await routed_to(http) == "a"  # the last good config serves on

            policy.write_text(ONLY.format(target="b/m"))

            async def switched() -> bool:
                return await routed_to(http) == "b"

            await until(switched, "a valid edit after the bomb is loaded")
            assert await last_error(http) == []


async def test_watcher_survives_an_unexpected_exception(
    fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Path] = []

    def broken_once(providers: Path, policies: Path, env: dict[str, str]) -> Config:
        calls.append(providers)
        if len(calls) == 1:
            raise RuntimeError("a bug in the loader")
        return load_config(providers, policies, env)

    async with fleet({"a": FAST, "b": FAST}, PRICES, policies=ONLY.format(target="a/m")) as f:
        monkeypatch.setattr("gateway.reload.load_config", broken_once)
        policy = f.providers_file.parent / "policies" / "test.yaml"
        async with httpx.AsyncClient(base_url=f.url) as http:
            policy.write_text(ONLY.format(target="a/m") + "# touched\n")

            async def reported() -> bool:
                return any("a bug in the loader" in e for e in await last_error(http))

            await until(reported, "the unexpected error is reported")
            assert "config reload (file change) failed" in caplog.text
            policy.write_text(ONLY.format(target="b/m"))

            async def switched() -> bool:
                return await routed_to(http) == "b"

            await until(switched, "the watcher still loads edits")


async def test_watcher_survives_a_failing_swap_and_a_failing_watch(
    fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    watches: list[object] = []

    def awatch_failing_once(*roots: Path, **options: Any) -> Any:
        watches.append(roots)
        if len(watches) == 1:
            raise OSError("inotify watch limit reached")
        return awatch(*roots, **options)

    swaps: list[Config] = []
    real_swap = Reloader._swap

    def swap_failing_once(self: Reloader, config: Config) -> None:
        swaps.append(config)
        if len(swaps) == 1:
            raise RuntimeError("a bug in the swap")
        real_swap(self, config)

    monkeypatch.setattr("gateway.reload.awatch", awatch_failing_once)
    monkeypatch.setattr(Reloader, "_swap", swap_failing_once)
    async with fleet({"a": FAST, "b": FAST}, PRICES, policies=ONLY.format(target="a/m")) as f:
        policy = f.providers_file.parent / "policies" / "test.yaml"
        async with httpx.AsyncClient(base_url=f.url) as http:

            async def watching_again() -> bool:
                return len(watches) == 2

            await until(watching_again, "the watcher starts again after failing")
            assert "config file watcher failed" in caplog.text
            edits = 0

            async def switched() -> bool:
                nonlocal edits
                if await routed_to(http) == "b":
                    return True
                edits += 1  # until the new watch is set up, and past the failing swap
                policy.write_text(ONLY.format(target="b/m") + f"# edit {edits}\n")
                await asyncio.sleep(0.3)
                return False

            await until(switched, "edits load after both failures", seconds=20)
            assert "config reload (file change) failed; still watching" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [(DEEP_FLOW, "nested deeper than 64 levels"), (alias_bomb(), "aliases expand")],
    ids=["deep", "alias-bomb"],
)
async def test_admin_reload_answers_422_and_the_loop_keeps_serving(
    fleet: FleetFactory, text: str, message: str
) -> None:
    async with fleet(
        {"a": FAST, "b": FAST}, PRICES, policies=ONLY.format(target="a/m"), watch_config=False
    ) as f:
        policy = f.providers_file.parent / "policies" / "test.yaml"
        gaps: list[float] = []
        stop = asyncio.Event()

        async def tick() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        async with httpx.AsyncClient(base_url=f.url, timeout=60) as http:
            ticker = asyncio.create_task(tick())
            policy.write_text(text)
            r = await http.post("/admin/reload")
            stop.set()
            await ticker
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "config_invalid"
            (problem,) = r.json()["problems"]
            assert problem.startswith(f"{policy}:") and message in problem
            assert max(gaps) < 1.0, "the event loop was blocked during the reload"
            assert await routed_to(http) == "a"


async def test_a_slow_parse_runs_off_the_event_loop(
    fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:

    def slow(providers: Path, policies: Path, env: dict[str, str]) -> Config:
        time.sleep(1.5)  # stands in for any parse that takes long
        return load_config(providers, policies, env)

    async with fleet({"a": FAST}, {"a": (0.1, 0.1)}, watch_config=False) as f:
        monkeypatch.setattr("gateway.reload.load_config", slow)
        async with httpx.AsyncClient(base_url=f.url, timeout=60) as http:
            reload = asyncio.create_task(http.post("/admin/reload"))
            await asyncio.sleep(0.2)  # the reload is under way
            started = time.monotonic()
            assert (await http.get("/healthz")).status_code == 200
            assert time.monotonic() - started < 1.0, "/healthz waited for the reload"
            assert not reload.done()
            assert (await reload).status_code == 200
