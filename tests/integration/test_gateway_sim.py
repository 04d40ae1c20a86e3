"""End to end: the official OpenAI SDK and plain HTTP through the gateway to simulated vendors."""

from __future__ import annotations

from collections import Counter

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

FAST = VendorSpec(models=["m"], ttft_ms=2, tokens_per_s=5000, output_tokens=8)
SLOW = VendorSpec(models=["m"], ttft_ms=60, tokens_per_s=5000, output_tokens=8)
MSG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


async def test_openai_sdk_chat(fleet: FleetFactory) -> None:
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        client = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MSG)
        reply = raw.parse()
        assert reply.choices[0].message.content
        assert reply.usage is not None and reply.usage.completion_tokens == 8
        assert raw.headers["x-gateway-provider"] == "a"
        assert raw.headers["x-gateway-deployment"] == "a/m"
        assert raw.headers["x-gateway-attempts"] == "1"
        assert float(raw.headers["x-gateway-overhead-ms"]) >= 0
        assert raw.headers["x-request-id"]
        await client.close()


async def test_openai_sdk_stream_with_and_without_usage(fleet: FleetFactory) -> None:
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        client = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        stream = await client.chat.completions.create(
            model="m",
            messages=MSG,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
        # Without include_usage the gateway still asks upstream for usage, but hides that chunk.
        stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
        plain = [c async for c in stream]
        assert all(c.choices for c in plain)
        assert "".join(c.choices[0].delta.content or "" for c in plain) == text
        assert f.vendors["a"].stats.streamed == 2
        await client.close()


async def test_openai_sdk_tools(fleet: FleetFactory) -> None:
    tools: list[ChatCompletionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    async with fleet({"a": FAST}, {"a": (0.1, 0.2)}) as f:
        client = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        reply = await client.chat.completions.create(model="m", messages=MSG, tools=tools)
        call = reply.choices[0].message.tool_calls
        assert call
        assert call[0].type == "function"
        assert call[0].function.name == "lookup"
        stream = await client.chat.completions.create(
            model="m",
            messages=MSG,
            tools=tools,
            stream=True,
        )
        names = [
            tc.function.name
            async for c in stream
            if c.choices
            for tc in (c.choices[0].delta.tool_calls or [])
            if tc.function and tc.function.name
        ]
        assert names == ["lookup"]
        await client.close()


async def _providers(url: str, n: int, body: dict[str, object]) -> Counter[str]:
    seen: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(n):
            r = await http.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, r.text
            seen[r.headers["x-gateway-provider"]] += 1
    return seen


async def test_cheapest_picks_the_cheaper_and_fastest_the_faster(fleet: FleetFactory) -> None:
    specs = {"cheap": SLOW, "quick": FAST}
    prices = {"cheap": (0.1, 0.1), "quick": (5.0, 15.0)}
    async with fleet(specs, prices, explore_rate=0.0) as f:
        body: dict[str, object] = {"model": "m", "messages": MSG, "max_tokens": 8}
        cheapest = await _providers(f.url, 10, {**body, "gateway": {"sort": "cheapest"}})
        assert cheapest == {"cheap": 10}
        fastest = await _providers(f.url, 20, {**body, "gateway": {"sort": "fastest"}})
        # Once both are measured, every request goes to the faster one.
        assert fastest["quick"] >= 18


async def test_failing_provider_loses_its_traffic_and_requests_still_succeed(
    fleet: FleetFactory,
) -> None:
    specs = {"a": FAST, "b": FAST.model_copy(update={"seed": 1})}
    prices = {"a": (0.1, 0.1), "b": (0.2, 0.2)}
    async with fleet(specs, prices, explore_rate=0.0) as f:
        # cheapest: latency noise on a busy machine must not decide; failures must.
        body: dict[str, object] = {
            "model": "m",
            "messages": MSG,
            "max_tokens": 8,
            "gateway": {"sort": "cheapest"},
        }
        before = await _providers(f.url, 5, body)
        assert before == {"a": 5}  # the cheaper one while both are healthy
        f.vendors["a"].set_behaviour(error_rate=1.0)
        after = await _providers(f.url, 30, body)  # asserts every request got a 200
        assert after["b"] == 30
        assert f.vendors["a"].stats.by_status.get(500, 0) <= 3  # it stopped being tried


async def test_pinned_deployment_and_models_list(fleet: FleetFactory) -> None:
    async with fleet({"a": FAST, "b": FAST}, {"a": (0.1, 0.1), "b": (9.0, 9.0)}) as f:
        seen = await _providers(f.url, 3, {"model": "b/m", "messages": MSG})
        assert seen == {"b": 3}
        async with httpx.AsyncClient(base_url=f.url) as http:
            models = (await http.get("/v1/models")).json()
        assert {m["id"] for m in models["data"]} == {"m", "a/m", "b/m"}


async def test_request_id_is_kept_when_sane_and_replaced_otherwise(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.1)}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = {"model": "m", "messages": MSG}
        r = await http.post("/v1/chat/completions", json=body, headers={"x-request-id": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"
        r = await http.post("/v1/chat/completions", json=body, headers={"x-request-id": "bad id!"})
        assert r.headers["x-request-id"] != "bad id!" and len(r.headers["x-request-id"]) == 32
