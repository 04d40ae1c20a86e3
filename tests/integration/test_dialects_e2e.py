"""Every dialect end to end with the official SDKs, through the gateway to simulated vendors:
the Anthropic SDK against an Anthropic-format vendor (passed through) and an OpenAI-compatible
one (translated), the OpenAI SDK's embeddings and completions, and their spend rows."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory
from tests.integration.test_spend_records import ListLedger

CLAUDE = VendorSpec(
    dialect="anthropic",
    models=["claude-x"],
    ttft_ms=1,
    tokens_per_s=5000,
    output_tokens=6,
    api_key="sk-ant-vendor",
)
CHAT = VendorSpec(models=["claude-x"], ttft_ms=1, tokens_per_s=5000, output_tokens=6)
PRICES = {"c": (3.0, 15.0)}
MSG: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Say hello."}]
WEATHER: list[anthropic.types.ToolParam] = [
    {
        "name": "weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def client(url: str) -> anthropic.AsyncAnthropic:
    # ANTHROPIC_BASE_URL is the gateway's root: the SDK adds /v1/messages itself.
    return anthropic.AsyncAnthropic(base_url=url, api_key="unused-without-master-key")


async def test_the_anthropic_sdk_through_to_an_anthropic_vendor_is_passed_through(
    fleet: FleetFactory,
) -> None:
    ledger = ListLedger()
    async with fleet({"c": CLAUDE}, PRICES, ledger=ledger) as f:
        sdk = client(f.url)
        raw = await sdk.messages.with_raw_response.create(
            model="claude-x",
            max_tokens=32,
            messages=MSG,
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        )
        message = await raw.parse()
        vendor = f.vendors["c"]
        sent = vendor.last_request
        assert sent is not None
        assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
        assert sent.headers["x-api-key"] == "sk-ant-vendor"  # ours, not the client's
        assert sent.json() == {"model": "claude-x", "max_tokens": 32, "messages": MSG}
        assert message.type == "message" and message.content[0].type == "text"
        assert message.usage.output_tokens == 6
        assert raw.headers["x-gateway-deployment"] == "c/claude-x"
        async with sdk.messages.stream(model="claude-x", max_tokens=32, messages=MSG) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text and final.usage.output_tokens == 6 and final.usage.input_tokens > 0
        tool = await sdk.messages.create(
            model="claude-x", max_tokens=64, messages=MSG, tools=WEATHER
        )
        assert tool.stop_reason == "tool_use" and tool.content[-1].type == "tool_use"
        counted = await sdk.messages.with_raw_response.count_tokens(model="claude-x", messages=MSG)
        assert (await counted.parse()).input_tokens > 0
        assert counted.headers["x-gateway-token-count"] == "upstream"
        await sdk.close()
    rows = [r for r in ledger.records if r.status_code == 200]
    assert {r.endpoint for r in rows} == {"/v1/messages"} and len(rows) == 3
    assert all(r.cost_usd is not None and r.cost_usd > 0 for r in rows)


async def test_the_anthropic_sdk_through_to_a_chat_vendor_is_translated(
    fleet: FleetFactory,
) -> None:
    ledger = ListLedger()
    async with fleet({"c": CHAT}, PRICES, ledger=ledger) as f:
        sdk = client(f.url)
        message = await sdk.messages.create(
            model="claude-x", max_tokens=32, system="Be brief.", messages=MSG
        )
        assert message.content[0].type == "text" and message.content[0].text
        assert message.usage.output_tokens == 6 and message.usage.input_tokens > 0
        sent = f.vendors["c"].last_request
        assert sent is not None and sent.path == "/v1/chat/completions"
        assert sent.json()["messages"][0] == {"role": "system", "content": "Be brief."}
        assert "anthropic-version" not in sent.headers  # dropped when translating
        events: list[str] = []
        async with sdk.messages.stream(model="claude-x", max_tokens=32, messages=MSG) as stream:
            async for event in stream:
                events.append(event.type)
            final = await stream.get_final_message()
        assert events[0] == "message_start" and "content_block_delta" in events
        assert final.usage.output_tokens == 6 and final.stop_reason == "end_turn"
        tool = await sdk.messages.create(
            model="claude-x", max_tokens=64, messages=MSG, tools=WEATHER
        )
        assert tool.stop_reason == "tool_use"
        counted = await sdk.messages.with_raw_response.count_tokens(model="claude-x", messages=MSG)
        assert counted.headers["x-gateway-token-count"] in ("tokenizer", "estimate")
        await sdk.close()
    rows = [r for r in ledger.records if r.status_code == 200]
    assert len(rows) == 3 and all(r.endpoint == "/v1/messages" for r in rows)


async def test_messages_errors_are_in_anthropic_shape(fleet: FleetFactory) -> None:
    async with (
        fleet({"c": CHAT}, PRICES) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r = await http.post("/v1/messages", json={"model": "claude-x", "messages": MSG})
        assert r.status_code == 400
        assert r.json() == {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "'max_tokens' is required.",
            },
        }
        r = await http.post("/v1/messages", content=b"{not json")
        assert r.status_code == 400 and r.json()["type"] == "error"
        r = await http.post(
            "/v1/messages", json={"model": "nope", "max_tokens": 5, "messages": MSG}
        )
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


async def test_the_openai_sdk_embeddings_and_completions(fleet: FleetFactory) -> None:
    ledger = ListLedger()
    spec = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=5)
    ops = {"o": ["chat", "completions", "embeddings"]}
    async with fleet({"o": spec}, {"o": (0.1, 0.2)}, ledger=ledger, operations=ops) as f:
        sdk = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        emb = await sdk.embeddings.create(model="m", input=["one", "two"], dimensions=4)
        assert len(emb.data) == 2 and len(emb.data[0].embedding) == 4
        b64 = await sdk.embeddings.create(model="m", input="x", encoding_format="base64")
        assert b64.data[0].embedding
        done = await sdk.completions.create(model="m", prompt="Once upon", max_tokens=5)
        assert done.choices[0].text and done.usage is not None
        parts = await sdk.completions.create(
            model="m",
            prompt="Once",
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in parts]
        assert any(c.choices and c.choices[0].text for c in chunks)
        await sdk.close()
    by_endpoint = {r.endpoint for r in ledger.records}
    assert by_endpoint == {"/v1/embeddings", "/v1/completions"}
    embed_rows = [r for r in ledger.records if r.endpoint == "/v1/embeddings"]
    assert all(r.prompt_tokens > 0 and r.completion_tokens == 0 for r in embed_rows)


async def test_embeddings_go_only_where_listed(fleet: FleetFactory) -> None:
    async with (
        fleet({"o": CHAT.model_copy(update={"models": ["m"]})}, {"o": (0.1, 0.2)}) as f,
        httpx.AsyncClient(base_url=f.v1) as http,
    ):
        r = await http.post("/embeddings", json={"model": "m", "input": "hi"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "model"
        assert "does not serve /v1/embeddings" in r.json()["error"]["message"]


async def test_the_openai_sdk_responses_through_a_chat_vendor_translated(
    fleet: FleetFactory,
) -> None:
    ledger = ListLedger()
    spec = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=5)
    async with fleet({"o": spec}, {"o": (0.1, 0.2)}, ledger=ledger) as f:
        sdk = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        response = await sdk.responses.create(
            model="m", instructions="Be brief.", input="Say hello.", max_output_tokens=16
        )
        assert response.output_text and response.usage is not None
        assert response.usage.output_tokens == 5
        sent = f.vendors["o"].last_request
        assert sent is not None and sent.path == "/v1/chat/completions"
        assert sent.json()["messages"][0] == {"role": "system", "content": "Be brief."}
        stream = await sdk.responses.create(model="m", input="Say hello.", stream=True)
        kinds = [event.type async for event in stream]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert "response.output_text.delta" in kinds
        tools: list[openai.types.responses.ToolParam] = [
            {
                "type": "function",
                "name": "weather",
                "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": False,
            }
        ]
        first = await sdk.responses.create(model="m", input="Weather in Paris?", tools=tools)
        calls = [o for o in first.output if o.type == "function_call"]
        assert calls, first.output
        second = await sdk.responses.create(
            model="m",
            tools=tools,
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "function_call",
                    "call_id": calls[0].call_id,
                    "name": calls[0].name,
                    "arguments": calls[0].arguments,
                },
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
            ],
        )
        assert second.status == "completed"
        sent_messages = f.vendors["o"].last_request.json()["messages"]  # type: ignore[union-attr]
        assert sent_messages[-1]["role"] == "tool" and sent_messages[-1]["content"] == "sunny"
        # A stateful feature has no chat equivalent: a 400 naming it, never silently dropped.
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.responses.create(model="m", input="hi", previous_response_id="resp_x")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "previous_response_id"
        await sdk.close()
    rows = [r for r in ledger.records if r.status_code == 200]
    assert len(rows) == 4 and all(r.endpoint == "/v1/responses" for r in rows)
