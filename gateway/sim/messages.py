"""`POST /v1/messages` and `POST /v1/messages/count_tokens`, as api.anthropic.com answers them.

The answer is the chat answer to the same conversation (system and message texts) as one text
block, or one `tool_use` block when the request has tools (as chat decides a tool call). Prompt
caching follows `cache_control` breakpoints (prompt_cache.py). A stream is the exact event
sequence message_start, ping, content_block_start, content_block_delta..., content_block_stop,
message_delta, message_stop, paced by the vendor's TTFT and tokens per second.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from gateway.sim import messages_wire as mw
from gateway.sim import wire
from gateway.sim.answer import Answer, paced_tokens, send_events
from gateway.sim.core import Admitted

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp import web

    from gateway.sim.answer import Rate, Writer
    from gateway.sim.config import Fault
    from gateway.sim.core import VendorCore
    from gateway.sim.prompt_cache import CacheUse

JSON_DELTA_CHARS = 16  # a streamed tool input goes out in pieces this long


async def messages(core: VendorCore, request: web.Request) -> web.StreamResponse:
    admitted = await core.admit(request, mw.parse_messages_request)
    if not isinstance(admitted, Admitted):
        return admitted
    req = admitted.req
    mid = f"msg_sim_{core.name}_{next(core.ids)}"
    answer = Answer.build(req, natural=core.spec.output_tokens, cid=mid)
    cache = core.prompt_cache.use(req.model, req.cacheable, req.breakpoints, wire.estimate_tokens)
    core.stats.cache_write_tokens += cache.cache_creation_input_tokens
    core.stats.cache_read_tokens += cache.cache_read_input_tokens
    kv_tokens = req.prompt_tokens + answer.completion_tokens
    async with core.timing(req.prompt, req.prompt_tokens, kv_tokens, admitted.ttft_ms) as timing:
        if req.stream:
            return await _stream(core, request, req, answer, cache, timing, admitted.fault)
        if answer.tool_call is not None:
            content = [mw.tool_use_block(answer.tool_call)]
        else:
            content = [{"type": "text", "text": "".join(answer.tokens)}]
        body = mw.message(
            mid=mid,
            model=req.model,
            content=content,
            stop_reason=mw.STOP_REASONS[answer.finish_reason],
            usage=mw.usage(cache, answer.completion_tokens),
        )
        return await core.respond(
            request,
            orjson.dumps(body),
            admitted.fault,
            timing=timing,
            decoded=answer.completion_tokens,
            usage=(cache.total, answer.completion_tokens),
        )


async def count_tokens(core: VendorCore, request: web.Request) -> web.StreamResponse:
    """Every input token of the request (tools, system, messages), at once: no rate limit,
    simulated error or fault applies, nothing is cached."""
    admitted = await core.admit(request, mw.parse_count_tokens_request, limited=False)
    if not isinstance(admitted, Admitted):
        return admitted
    return core.reply(request, 200, orjson.dumps({"input_tokens": admitted.req.prompt_tokens}))


async def _stream(
    core: VendorCore,
    request: web.Request,
    req: mw.MessagesRequest,
    answer: Answer,
    cache: CacheUse,
    timing: tuple[float, Rate],
    fault_kind: Fault,
) -> web.StreamResponse:
    resp, fault = core.open_stream(request, fault_kind, end=mw.END_EVENT, broken=mw.BROKEN_EVENT)
    core.stats.prompt_tokens += cache.total
    ttft_s, tps = timing
    await asyncio.sleep(ttft_s)
    start = mw.message(
        mid=answer.cid, model=req.model, content=[], stop_reason=None, usage=mw.usage(cache, 1)
    )
    call = answer.tool_call
    block: dict[str, Any] = (
        {"type": "text", "text": ""} if call is None else mw.tool_use_block(call, streamed=True)
    )
    tokens = answer.tokens

    async def events(out: Writer) -> AsyncIterator[int]:
        await out.write(
            mw.event("message_start", {"type": "message_start", "message": start})
            + mw.event("ping", {"type": "ping"})
            + mw.event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        if call is not None:
            args = call.arguments
            pieces = range(0, len(args), JSON_DELTA_CHARS)
            await out.write(b"".join(mw.json_delta(args[i : i + JSON_DELTA_CHARS]) for i in pieces))
            yield answer.completion_tokens
        else:
            async for written in paced_tokens(
                out, len(tokens), tps, lambda i: mw.text_delta(tokens[i])
            ):
                yield written
        stop = {"stop_reason": mw.STOP_REASONS[answer.finish_reason], "stop_sequence": None}
        await out.write(
            mw.event("content_block_stop", {"type": "content_block_stop", "index": 0})
            + mw.event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": stop,
                    "usage": {"output_tokens": answer.completion_tokens},
                },
            )
            + mw.event("message_stop", {"type": "message_stop"})
        )

    await send_events(request, resp, core.stats, events, fault=fault)
    return resp
