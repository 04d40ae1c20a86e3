"""Policies on a running gateway: hot reload, explain, team overrides, the policy header."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]
PRICES = {"a": (0.1, 0.1), "b": (1.0, 1.0)}
ONLY = "routes:\n  chat:\n    targets: [{target}]\n    strategy: cheapest\n"


async def test_editing_a_policy_switches_routing_without_a_failed_request(
    fleet: FleetFactory,
) -> None:
    async with fleet({"a": FAST, "b": FAST}, PRICES, policies=ONLY.format(target="a/m")) as f:
        policy_file = f.providers_file.parent / "policies" / "test.yaml"
        seen: list[str] = []
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()

        async def traffic(http: httpx.AsyncClient) -> None:
            while not stop.is_set():
                r = await http.post("/v1/chat/completions", json={"model": "chat", "messages": MSG})
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    seen.append(r.headers["x-gateway-provider"])
                await asyncio.sleep(0.005)

        async with httpx.AsyncClient(base_url=f.url) as http:
            task = asyncio.create_task(traffic(http))
            await asyncio.sleep(0.3)
            assert set(seen) == {"a"}
            policy_file.write_text(ONLY.format(target="b/m"))
            switched_after = None
            for tick in range(100):  # a second, at most
                await asyncio.sleep(0.01)
                if seen and seen[-1] == "b":
                    switched_after = tick * 0.01
                    break
            assert switched_after is not None, "routing did not switch within a second"
            version = (await http.get("/admin/config")).json()["version"]

            # A broken edit changes nothing but the reported last error.
            policy_file.write_text("routes:\n  chat:\n    targets: [nowhere/m]\n")
            for _ in range(100):
                await asyncio.sleep(0.01)
                status = (await http.get("/admin/config")).json()
                if status["last_error"]:
                    break
            assert status["version"] == version
            assert (
                "test.yaml:3: routes.chat.targets.0: unknown target 'nowhere/m'"
                in status["last_error"][0]
            )
            n = len(seen)
            await asyncio.sleep(0.2)
            stop.set()
            await task
            assert set(seen[n:]) == {"b"}  # the last good config kept serving

            # POST /admin/reload says why it refused.
            r = await http.post("/admin/reload")
            assert r.status_code == 422 and r.json()["error"]["code"] == "config_invalid"
            assert "unknown target" in r.json()["problems"][0]
        assert set(statuses) == {200}


TEAMS = """\
default_route: general
routes:
  general:
    targets: [a/m, b/m]
    strategy: cheapest
    teams:
      vip: {targets: [b/m]}
  only-b:
    targets: [b/m]
"""


async def test_team_override_policy_header_default_route_and_explain(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": FAST, "b": FAST}, PRICES, policies=TEAMS, explore_rate=0.0) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):

        async def provider(model: str, **headers: str) -> str:
            r = await http.post(
                "/v1/chat/completions", json={"model": model, "messages": MSG}, headers=headers
            )
            assert r.status_code == 200, r.text
            return r.headers["x-gateway-provider"]

        assert await provider("general") == "a"
        assert await provider("general", **{"x-gateway-team": "vip"}) == "b"
        assert await provider("general", **{"x-gateway-policy": "only-b"}) == "b"
        assert await provider("some-unlisted-name") == "a"  # the default route

        # The policy header can only narrow: a route outside the model's own serves nothing.
        r = await http.post(
            "/v1/chat/completions",
            json={"model": "a/m", "messages": MSG},
            headers={"x-gateway-policy": "only-b"},
        )
        assert r.status_code == 503
        assert "not allowed by route 'a/m'" in r.json()["error"]["message"]
        r = await http.post(
            "/v1/chat/completions",
            json={"model": "general", "messages": MSG},
            headers={"x-gateway-policy": "nope"},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "x-gateway-policy"

        body = {
            "model": "general",
            "messages": MSG,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "gateway": {"ignore": ["b"]},
        }
        explained = (await http.post("/v1/route/explain", json=body)).json()
        assert explained["route"] == "general" and explained["strategy"] == "cheapest"
        (cand,) = explained["candidates"]
        assert cand["deployment"] == "a/m"
        assert set(cand["terms"]) == {
            "expected_cost_usd",
            "slo_miss_usd",
            "failure_usd",
            "quota_pressure_usd",
        }
        assert explained["excluded"] == [
            {"deployment": "b/m", "reason": "in the request's gateway.ignore"}
        ]

        r = await http.post(
            "/v1/chat/completions",
            json={"model": "general", "messages": MSG},
            headers={"x-gateway-explain": "1"},
        )
        assert r.headers["x-gateway-explain"].startswith("a/m J=")
        assert "b/m J=" in r.headers["x-gateway-explain"]
