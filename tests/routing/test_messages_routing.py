"""Messages requests through the router (fake upstreams): translated for a chat deployment (reply
and stream events in Anthropic's shape, usage kept), passed through to a Messages deployment
with its headers, and kept off translating deployments when a feature has no chat equivalent."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from gateway.api.body import Meta
from gateway.api.messages_request import parse_messages
from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.errors import InvalidRequest, UpstreamStatusError
from gateway.routing.request import GatewayRequest
from gateway.upstream.base import Reply
from tests.routing.fakes import Stream, reply
from tests.routing.test_router import A, B, rig

ANTHROPIC = replace(B, operations=frozenset({"messages"}))


def messages(**fields: Any) -> GatewayRequest:
    body = {
        "model": "chat",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello"}],
        **fields,
    }
    meta = Meta("r1", time.perf_counter(), headers={"anthropic-version": "2023-06-01"})
    return parse_messages(orjson.dumps(body), meta)


async def test_a_messages_request_on_a_chat_deployment_is_translated_both_ways() -> None:
    chat = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello there"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
    vendor = Reply(orjson.dumps(chat), Usage(9, 2))
    t = rig({"a": [vendor]}, (A,))
    served = await t.router.handle(messages(system="be brief"))
    sent = t.fakes.calls[0].body
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["max_tokens"] == 64 and "system" not in sent
    assert served.reply is not None
    message = orjson.loads(served.reply.body)
    assert message["type"] == "message" and message["model"] == "chat"
    assert message["content"] == [{"type": "text", "text": "hello there"}]
    assert message["usage"]["input_tokens"] == 9 and message["usage"]["output_tokens"] == 2
    (row,) = t.ledger.records
    assert (row.endpoint, row.prompt_tokens, row.completion_tokens) == ("/v1/messages", 9, 2)


async def test_a_translated_stream_is_a_messages_event_sequence() -> None:
    t = rig({"a": [Stream(("hel", "lo"))]}, (A,))
    served = await t.router.handle(messages(stream=True))
    out = b"".join([c async for c in t.router.relay(served)])
    kinds = [line[7:] for line in out.split(b"\n") if line.startswith(b"event: ")]
    assert kinds == [
        b"message_start",
        b"ping",
        b"content_block_start",
        b"content_block_delta",
        b"content_block_delta",
        b"content_block_stop",
        b"message_delta",
        b"message_stop",
    ]
    assert b'"text":"hel"' in out and b'"text":"lo"' in out
    assert b"[DONE]" not in out and b"chat.completion.chunk" not in out


async def test_a_translated_stream_that_breaks_ends_with_an_anthropic_error_event() -> None:
    t = rig({"a": [Stream(("hel",), breaks=("upstream broke", "upstream_stream_error"))]}, (A,))
    served = await t.router.handle(messages(stream=True))
    out = b"".join([c async for c in t.router.relay(served)])
    last = out.strip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b"event: error\ndata: ")
    assert orjson.loads(last.split(b"data: ", 1)[1])["type"] == "error"
    assert b"message_stop" not in out


async def test_a_messages_deployment_gets_the_body_and_anthropic_headers_as_sent() -> None:
    native = Reply(orjson.dumps({"type": "message", "content": []}), None)
    t = rig({"b": [native]}, (ANTHROPIC,))
    req = messages(metadata={"user_id": "u"})
    served = await t.router.handle(req)
    (call,) = t.fakes.calls
    assert call.body == req.body  # untouched: the adapter rewrites only the model
    assert served.reply is native


async def test_a_feature_chat_cannot_express_goes_only_where_messages_is_native() -> None:
    native = Reply(orjson.dumps({"type": "message", "content": []}), None)
    t = rig({"a": [], "b": [native]}, (A, ANTHROPIC))
    server_tool = [{"type": "web_search_20250305", "name": "web_search"}]
    req = messages(tools=server_tool)
    assert req.untranslatable is not None
    served = await t.router.handle(req)
    assert served.deployment.id == "b/m" and t.fakes.called == ["b/m"]
    # With only a chat deployment it is a 400 naming the feature, never a silent drop.
    only_chat = rig({"a": []}, (A,))
    with pytest.raises(InvalidRequest) as caught:
        await only_chat.router.handle(req)
    assert (caught.value.param or "").startswith("tools")


async def test_chat_requests_never_go_to_a_messages_only_deployment() -> None:
    t = rig({"a": [reply("hi")], "b": []}, (ANTHROPIC, A))
    from tests.routing.test_router import request

    served = await t.router.handle(request())
    assert served.deployment.id == "a/m" and served.request.operation == Operation.CHAT


async def test_failover_crosses_kinds_before_the_first_byte() -> None:
    overloaded = UpstreamStatusError("upstream answered 529", upstream_status=529)
    chat = {
        "id": "c2",
        "choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1},
    }
    t = rig({"b": [overloaded], "a": [Reply(orjson.dumps(chat), Usage(4, 1))]}, (ANTHROPIC, A))
    served = await t.router.handle(messages())
    assert t.fakes.called == ["b/m", "a/m"] and served.attempts == 2
    assert t.fakes.calls[0].body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert "max_tokens" in t.fakes.calls[1].body and "system" not in t.fakes.calls[1].body
    assert served.reply is not None and orjson.loads(served.reply.body)["type"] == "message"
