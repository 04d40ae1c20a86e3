"""Agent frameworks unchanged, through the gateway to simulated vendors: LangChain's ChatOpenAI,
OpenAIEmbeddings and ChatAnthropic (to an Anthropic-format vendor, passed through, and to a chat
vendor, translated), and the OpenAI Agents SDK with its default settings (the Responses API,
translated to chat for a chat-only deployment) running a tool-using agent.

The simulator answers with a tool call whenever a request has tools (gateway/sim/wire.py,
`_tool_name`), also after a tool's result: an agent with a tool and default settings never gets a
text answer from it, so its run ends at `max_turns` once the tool was called."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from agents import (
    Agent,
    Runner,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from langchain_anthropic import ChatAnthropic, _client_utils
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from gateway.sim import VendorSpec
from tests.conftest import FleetFactory
from tests.integration.test_spend_records import ListLedger

CHAT = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=6)
CLAUDE = VendorSpec(
    dialect="anthropic",
    models=["m"],
    ttft_ms=1,
    tokens_per_s=5000,
    output_tokens=6,
    api_key="sk-ant-vendor",
)
PRICES = {"o": (0.1, 0.2)}
EMBEDDINGS = {"o": ["chat", "completions", "embeddings"]}


@tool
def weather(query: str) -> str:
    """The weather in a city."""  # the simulator's tool calls have one argument, `query`
    return f"sunny in {query}"


def _text(message: AIMessage) -> str:
    return str(message.text)


# LangChain's classes keep their HTTP clients (per base URL, process-wide for ChatAnthropic):
# the tests pass or close them, so no socket to a stopped gateway is left to the GC.
@pytest.fixture
async def http() -> AsyncIterator[tuple[openai.DefaultHttpxClient, openai.DefaultAsyncHttpxClient]]:
    with openai.DefaultHttpxClient() as sync:
        async with openai.DefaultAsyncHttpxClient() as async_:
            yield sync, async_


async def _close(llm: ChatAnthropic) -> None:
    await llm._async_client.close()
    _client_utils._get_default_async_httpx_client.cache_clear()  # closed: not for a later test


async def test_langchain_chat_openai_invoke_stream_and_tools(
    fleet: FleetFactory, http: tuple[openai.DefaultHttpxClient, openai.DefaultAsyncHttpxClient]
) -> None:
    ledger = ListLedger()
    async with fleet({"o": CHAT}, PRICES, ledger=ledger) as f:
        llm = ChatOpenAI(
            base_url=f.v1,
            api_key="unused",
            model="m",
            http_async_client=http[1],
        )
        reply = await llm.ainvoke("Say hello.")
        assert isinstance(reply, AIMessage) and _text(reply)
        assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 6
        chunks = [c async for c in llm.astream("Say hello.")]
        assert all(isinstance(c, AIMessageChunk) for c in chunks)
        assert "".join(str(c.content) for c in chunks)
        # Usage in a stream is off by default for a base URL not OpenAI's: asked for, it comes.
        chunks = [c async for c in llm.astream("Say hello.", stream_usage=True)]
        total = sum(chunks[1:], chunks[0])
        assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 6
        asked = "Weather in Paris?"
        with_tools = llm.bind_tools([weather])
        call = await with_tools.ainvoke(asked)
        assert call.tool_calls and call.tool_calls[0]["name"] == "weather"
        sent = f.vendors["o"].last_request
        assert sent is not None and sent.json()["tools"][0]["function"]["name"] == "weather"
        result = await weather.ainvoke(call.tool_calls[0])
        assert isinstance(result, ToolMessage) and str(result.content).startswith("sunny")
        again = await with_tools.ainvoke([("user", asked), call, result])
        assert isinstance(again, AIMessage)  # the simulator calls the tool again: see above
        sent = f.vendors["o"].last_request
        assert sent is not None and sent.json()["messages"][-1]["role"] == "tool"
        # Tool calls streamed: the fragments add up to a whole call.
        parts = [c async for c in with_tools.astream(asked)]
        streamed = sum(parts[1:], parts[0])
        assert isinstance(streamed, AIMessageChunk) and streamed.tool_calls
        assert streamed.tool_calls[0]["name"] == "weather"
    rows = [r for r in ledger.records if r.status_code == 200]
    assert len(rows) == 6 and {r.endpoint for r in rows} == {"/v1/chat/completions"}


async def test_langchain_openai_embeddings(
    fleet: FleetFactory, http: tuple[openai.DefaultHttpxClient, openai.DefaultAsyncHttpxClient]
) -> None:
    async with fleet({"o": CHAT}, PRICES, operations=EMBEDDINGS) as f:
        emb = OpenAIEmbeddings(  # type: ignore[call-arg]  # aliases
            base_url=f.v1,
            api_key="unused",
            model="m",
            check_embedding_ctx_length=False,
            http_client=http[0],
            http_async_client=http[1],
        )
        docs = await emb.aembed_documents(["one", "two", "three"])
        assert len(docs) == 3 and all(
            len(d) == 8 and all(isinstance(x, float) for x in d) for d in docs
        )
        query = await emb.aembed_query("one")
        assert query == docs[0]  # deterministic per text
        # The sync client too (in a thread: the gateway runs on this event loop).
        assert await asyncio.to_thread(emb.embed_documents, ["one"]) == [docs[0]]
        sized = OpenAIEmbeddings(  # type: ignore[call-arg]  # aliases
            base_url=f.v1,
            api_key="unused",
            model="m",
            check_embedding_ctx_length=False,
            dimensions=4,
            http_client=http[0],
            http_async_client=http[1],
        )
        assert len(await sized.aembed_query("one")) == 4
        sent = f.vendors["o"].last_request
        assert sent is not None and sent.path == "/v1/embeddings"


@pytest.mark.parametrize(
    ("spec", "vendor_path"),
    [(CLAUDE, "/v1/messages"), (CHAT, "/v1/chat/completions")],
    ids=["anthropic-vendor", "chat-vendor-translated"],
)
async def test_langchain_chat_anthropic(
    fleet: FleetFactory, spec: VendorSpec, vendor_path: str
) -> None:
    ledger = ListLedger()
    async with fleet({"o": spec}, PRICES, ledger=ledger) as f:
        llm = ChatAnthropic(base_url=f.url, api_key="unused", model="m")
        try:
            reply = await llm.ainvoke([("system", "Be brief."), ("user", "Say hello.")])
            assert isinstance(reply, AIMessage) and _text(reply)
            assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 6
            assert reply.response_metadata["stop_reason"] == "end_turn"
            sent = f.vendors["o"].last_request
            assert sent is not None and sent.path == vendor_path
            chunks = [c async for c in llm.astream("Say hello.")]
            total = sum(chunks[1:], chunks[0])
            assert isinstance(total, AIMessageChunk) and _text(total)
            assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 6
            call = await llm.bind_tools([weather]).ainvoke("Weather in Paris?")
            assert call.tool_calls and call.tool_calls[0]["name"] == "weather"
        finally:
            await _close(llm)
    rows = [r for r in ledger.records if r.status_code == 200]
    assert len(rows) == 3 and {r.endpoint for r in rows} == {"/v1/messages"}


# --- The OpenAI Agents SDK ---------------------------------------------------------------------

calls: list[str] = []


@function_tool
def lookup(query: str) -> str:
    """Look something up."""
    calls.append(query)
    return f"found: {query}"


@pytest.fixture
def agents_sdk() -> Iterator[None]:
    """No tracing (no internet); the SDK's default client and API are put back afterwards."""
    set_tracing_disabled(True)
    calls.clear()
    yield
    set_default_openai_api("responses")
    set_tracing_disabled(True)


async def test_openai_agents_sdk_defaults_run_a_tool_using_agent(
    fleet: FleetFactory, agents_sdk: None
) -> None:
    ledger = ListLedger()
    async with fleet({"o": CHAT}, PRICES, ledger=ledger) as f:
        client = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        set_default_openai_client(client)
        agent = Agent(name="helper", instructions="Use the tool.", model="m", tools=[lookup])
        # The model calls the tool, gets its result back, and answers with text: the run ends.
        result = await Runner.run(agent, "Find the answer.", max_turns=3)
        assert len(calls) == 1 and calls[0]  # the tool ran once, with its argument
        outputs = [i for i in result.new_items if i.type == "tool_call_output_item"]
        assert len(outputs) == 1 and outputs[0].output == f"found: {calls[0]}"
        assert isinstance(result.final_output, str) and result.final_output
        # Without tools the default agent finishes with the model's text.
        plain = Agent(name="plain", instructions="Be brief.", model="m")
        done = await Runner.run(plain, "Say hello.")
        assert isinstance(done.final_output, str) and done.final_output
        await client.close()
    rows = [r for r in ledger.records if r.status_code == 200]
    assert len(rows) == 3 and {r.endpoint for r in rows} == {"/v1/responses"}


async def test_openai_agents_sdk_tool_output_as_final_output(
    fleet: FleetFactory, agents_sdk: None
) -> None:
    async with fleet({"o": CHAT}, PRICES) as f:
        client = openai.AsyncOpenAI(base_url=f.v1, api_key="unused")
        set_default_openai_client(client)
        agent = Agent(
            name="helper",
            instructions="Use the tool.",
            model="m",
            tools=[lookup],
            tool_use_behavior="stop_on_first_tool",
        )
        result = await Runner.run(agent, "Find the answer.")
        assert len(calls) == 1 and result.final_output == f"found: {calls[0]}"
        streamed = Runner.run_streamed(agent, "Find the answer.")
        kinds = [e.type async for e in streamed.stream_events()]
        assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
        assert len(calls) == 2 and streamed.final_output == f"found: {calls[1]}"
        sent = f.vendors["o"].last_request
        assert sent is not None and sent.path == "/v1/chat/completions"
        await client.close()
