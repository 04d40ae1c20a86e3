"""The router against a request or a vendor that would hurt others (issue 12): content refusals
must not take a provider out, giant max_tokens must not reserve a whole window, missing usage
is estimated (never free), big prompts are tokenized off the event loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from gateway.api.body import Meta
from gateway.api.chat_request import parse_chat
from gateway.core.operation import Operation
from gateway.core.prompt import prompt_of
from gateway.core.usage import ESTIMATED, Usage
from gateway.errors import UpstreamStatusError
from gateway.routing import tokens as tokens_module
from gateway.routing.output_estimate import DEFAULT_CONTEXT_WINDOW
from gateway.routing.tokens import TokenCounter
from gateway.upstream.base import Reply
from tests.routing.fakes import FakeUpstream, reply
from tests.routing.test_router import A, B, rig


def refused(status: int, body: dict[str, Any]) -> UpstreamStatusError:
    return UpstreamStatusError(
        f"upstream answered {status}", upstream_status=status, upstream_body=orjson.dumps(body)
    )


CONTENT_REFUSAL = {"error": {"message": "This request violates our content policy."}}
BAD_KEY = {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}


def chat(**fields: Any) -> Any:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **fields}
    return parse_chat(orjson.dumps(body), Meta("r", time.perf_counter()))


async def test_a_content_refusal_403_does_not_take_the_provider_out() -> None:
    t = rig({"a": [refused(403, CONTENT_REFUSAL), reply("again")], "b": [reply("hi")]}, (A, B))
    served = await t.router.handle(chat())
    assert served.deployment.id == "b/m"
    assert "a" not in t.router.credentials
    served = await t.router.handle(chat())  # a is still in the ranking
    assert served.deployment.id == "a/m"


async def test_a_refused_key_is_taken_out_and_a_probe_that_accepts_it_brings_it_back() -> None:
    t = rig({"a": [refused(401, BAD_KEY)], "b": [reply("hi"), reply("hi")]}, (A, B))
    upstream = t.fakes.upstreams["a"]
    assert isinstance(upstream, FakeUpstream)
    accepted = asyncio.Event()

    async def probe_rejects() -> bool:
        return False

    upstream.probe = probe_rejects  # type: ignore[method-assign]
    await t.router.handle(chat())
    await t.router.drain()
    assert "a" in t.router.credentials  # the probe confirmed: out of routing

    async def probe_accepts() -> bool:
        accepted.set()
        return True

    t.router.credentials.failures.clear()
    upstream._left.append(refused(401, BAD_KEY))
    upstream.probe = probe_accepts  # type: ignore[method-assign]
    await t.router.handle(chat())
    await t.router.drain()
    assert accepted.is_set()
    assert "a" not in t.router.credentials  # the key works: the 401 was not about it


async def test_a_giant_max_tokens_reserves_no_more_than_a_context_window() -> None:
    t = rig({"a": []}, (A,))
    req = chat(max_tokens=2**62)
    route = t.router.resolve(req)
    tokens = await t.router.reserve_tokens(req, route)
    assert tokens == req.demand.prompt_tokens + DEFAULT_CONTEXT_WINDOW


async def test_a_reply_without_usable_usage_is_estimated_and_flagged_never_free() -> None:
    body = orjson.dumps({"choices": [{"message": {"content": "x" * 2000}}]})
    t = rig({"a": [Reply(body, None)]}, (A,))
    await t.router.handle(chat())
    (record,) = t.ledger.records
    assert record.tags["usage"] == ESTIMATED
    assert record.completion_tokens > 400 and record.prompt_tokens > 0
    assert record.cost_usd is not None and record.cost_usd > 0


async def test_clamped_usage_is_flagged_in_the_row() -> None:
    body = orjson.dumps({"choices": []})
    t = rig({"a": [Reply(body, Usage(3, 10_000_000, note="clamped"))]}, (A,))
    await t.router.handle(chat())
    assert t.ledger.records[0].tags["usage"] == "clamped"


async def test_a_large_prompt_is_tokenized_in_a_thread_and_a_huge_one_estimated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = TokenCounter()
    assert counter.load()
    threaded: list[int] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(fn: Any, prompt: Any) -> Any:
        threaded.append(prompt.chars)
        return await real_to_thread(fn, prompt)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    small = prompt_of(Operation.CHAT, {"messages": [{"role": "user", "content": "hello world"}]})
    assert await counter.count_off_loop(small) == counter.count(small)
    assert threaded == []  # small prompts stay on the loop
    large_text = "word " * 20_000
    large = prompt_of(Operation.CHAT, {"messages": [{"role": "user", "content": large_text}]})
    assert await counter.count_off_loop(large) == counter.count(large)
    assert threaded == [len(large_text)]
    huge_text = "x" * (tokens_module.THREAD_CHARS + 1)
    huge = prompt_of(Operation.CHAT, {"messages": [{"role": "user", "content": huge_text}]})
    assert await counter.count_off_loop(huge) is None  # the caller's chars/4 estimate stands
