"""A whole gateway in-process (ASGI, so respx mocks only the vendors' HTTP) over a tmp
providers.yaml, and the spend rows it wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import respx
from sqlalchemy import select

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from tests.vendors.gateway import gateway_client

BACKUP_URL = "http://backup.test/v1/chat/completions"
# An OpenAI-compatible provider to fail over to: the other kind in every failover test.
BACKUP = """
  backup:
    kind: openai
    base_url: http://backup.test/v1
    api_key_env: BACKUP_KEY
    models:
      m: {upstream: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
"""
BACKUP_STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"g",'
    b'"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"g",'
    b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
    b"data: [DONE]\n\n"
)
SSE = {"content-type": "text/event-stream"}


def route(*targets: str) -> str:
    """A policy routing the public name `chat` to these deployments, in this order."""
    return f"routes:\n  chat:\n    targets: [{', '.join(targets)}]\n    strategy: ordered\n"


BACKUP_REPLY = {
    "id": "chatcmpl-backup",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "from backup"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


@asynccontextmanager
async def gateway(
    workdir: Path, providers: str, env: Mapping[str, str], policy: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The whole gateway over these providers (plus `backup`), its ledger the SQLite file."""
    keys = {"BACKUP_KEY": "sk-backup-test", **env}
    async with gateway_client(workdir, "providers:" + providers, keys, policy) as client:
        yield client


async def spend_rows(workdir: Path) -> list[Any]:
    """The ledger's rows (read after the gateway stopped: its lifespan flushed the writer)."""
    engine = create_engine(parse_database_url(f"sqlite:///{workdir / 'ledger.db'}"))
    async with engine.connect() as conn:
        rows = list(await conn.execute(select(spend_log)))
    await engine.dispose()
    return rows


def cost(prompt: int, completion: int, price_in: float, price_out: float) -> Decimal:
    return (prompt * Decimal(str(price_in)) + completion * Decimal(str(price_out))) / 10**6


def sse_chunks(body: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of an OpenAI chat stream (asserting it ends with [DONE])."""
    events = [e for e in body.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]", events[-1]
    return [orjson.loads(e[len(b"data: ") :]) for e in events[:-1]]


CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


async def tool_round_trip(
    gw: httpx.AsyncClient,
    tool_id: str | None = None,
    *,
    tool_choice: str | None = None,
    echo_message: bool = False,
    assistant_content: str | None = None,
) -> dict[str, Any]:
    """Ask for the weather with WEATHER_TOOL; check the tool call the gateway relays
    (get_weather for Paris, with this id when given); send the tool's result back in the next
    turn (the assistant's message as relayed, or rebuilt with `assistant_content`); both 200."""
    call: dict[str, Any] = {**CHAT, "tools": [WEATHER_TOOL]}
    if tool_choice is not None:
        call["tool_choice"] = tool_choice
    first = await gw.post("/v1/chat/completions", json=call)
    assert first.status_code == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (tool_call,) = choice["message"]["tool_calls"]
    if tool_id is not None:
        assert tool_call["id"] == tool_id
    assert tool_call["function"]["name"] == "get_weather"
    assert orjson.loads(tool_call["function"]["arguments"]) == {"city": "Paris"}
    assistant = (
        choice["message"]
        if echo_message
        else {"role": "assistant", "content": assistant_content, "tool_calls": [tool_call]}
    )
    history = [
        *CHAT["messages"],
        assistant,
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "18 C, sunny"},
    ]
    second = await gw.post("/v1/chat/completions", json={**call, "messages": history})
    assert second.status_code == 200, second.text
    result: dict[str, Any] = tool_call
    return result


class SentWithBearer:
    """`sent(route, i)`: the JSON body of the route's i-th request, asserting it carried this
    bearer token (the key the provider was given, never another)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, route_: respx.Route, i: int = 0) -> dict[str, Any]:
        request = route_.calls[i].request
        assert request.headers["authorization"] == f"Bearer {self.token}"
        body: dict[str, Any] = orjson.loads(request.content)
        return body
