"""`POST /v1/chat/completions`: a whole `chat.completion`, or a paced stream of chunks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gateway.sim import wire
from gateway.sim.answer import Answer, paced_tokens, send_events
from gateway.sim.core import Admitted

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp import web

    from gateway.sim.answer import Rate, Writer
    from gateway.sim.config import Fault
    from gateway.sim.core import VendorCore


async def handle(core: VendorCore, request: web.Request) -> web.StreamResponse:
    admitted = await core.admit(request, wire.parse_chat_request)
    if not isinstance(admitted, Admitted):
        return admitted
    req = admitted.req
    cid = f"chatcmpl-sim-{core.name}-{next(core.ids)}"
    answer = Answer.build(req, natural=core.spec.output_tokens, cid=cid)
    kv_tokens = req.prompt_tokens + answer.completion_tokens * req.n
    async with core.timing(req.prompt, req.prompt_tokens, kv_tokens, admitted.ttft_ms) as timing:
        if req.stream:
            return await _stream(core, request, req, answer, timing, admitted.fault)
        completion_tokens = answer.completion_tokens * req.n
        body = wire.completion_body(
            cid=answer.cid,
            created=answer.created,
            model=req.model,
            n=req.n,
            content=None if answer.tool_call is not None else "".join(answer.tokens),
            tool_call=answer.tool_call,
            finish_reason=answer.finish_reason,
            usage=wire.usage(req.prompt_tokens, completion_tokens),
        )
        return await core.respond(
            request,
            body,
            admitted.fault,
            timing=timing,
            decoded=answer.completion_tokens,
            usage=(req.prompt_tokens, completion_tokens),
        )


async def _stream(
    core: VendorCore,
    request: web.Request,
    req: wire.ChatRequest,
    answer: Answer,
    timing: tuple[float, Rate],
    fault_kind: Fault,
) -> web.StreamResponse:
    ttft_s, tps = timing
    resp, fault = core.open_stream(request, fault_kind)
    core.stats.prompt_tokens += req.prompt_tokens
    await asyncio.sleep(ttft_s)
    encoder = wire.ChunkEncoder(
        cid=answer.cid,
        created=answer.created,
        model=req.model,
        n=req.n,
        include_usage=req.include_usage,
    )

    async def events(out: Writer) -> AsyncIterator[int]:
        if answer.tool_call is not None:
            delta = {"role": "assistant", "content": None}
            tool_calls = [{"index": 0, **wire.tool_call_dict(answer.tool_call)}]
            await out.write(encoder.event({**delta, "tool_calls": tool_calls}))
            yield answer.completion_tokens
        elif not answer.tokens:
            await out.write(encoder.event({"role": "assistant", "content": ""}))
        else:
            tokens = answer.tokens

            def render(i: int) -> bytes:
                if i == 0:
                    return encoder.event({"role": "assistant", "content": tokens[0]})
                return encoder.event({"content": tokens[i]})

            async for written in paced_tokens(out, len(tokens), tps, render):
                yield written
        await out.write(encoder.event({}, answer.finish_reason))
        if req.include_usage:
            usage = wire.usage(req.prompt_tokens, answer.completion_tokens * req.n)
            await out.write(encoder.usage_event(usage))
        await out.write(wire.DONE_EVENT)

    await send_events(request, resp, core.stats, events, fault=fault, choices=req.n)
    return resp
