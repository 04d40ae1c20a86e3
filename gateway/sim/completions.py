"""`POST /v1/completions` (OpenAI's legacy text completions): whole or streamed.

A prompt is a string, a list of strings, a token array or a list of token arrays; each prompt
gets `n` choices (index = prompt * n + choice), worded as chat answers are (text.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.sim import text, wire
from gateway.sim.answer import finish_reason, paced_tokens, send_events
from gateway.sim.core import Admitted
from gateway.sim.wire import BadRequest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from aiohttp import web

    from gateway.sim.answer import Rate, Writer
    from gateway.sim.core import VendorCore

MAX_PROMPTS = 2048


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    prompts: list[str]  # a token array as its ids joined by spaces (what its answer hashes)
    prompt_tokens: int
    max_tokens: int | None
    n: int
    stream: bool
    include_usage: bool

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.n

    def out_tokens(self, natural: int) -> int:
        return natural if self.max_tokens is None else min(self.max_tokens, natural)

    def budget(self, natural: int) -> int:
        return self.prompt_tokens + self.out_tokens(natural) * self.choices


def parse_completion_request(raw: bytes) -> CompletionRequest:
    """Validate a legacy completions body; raises BadRequest naming the offending parameter."""
    body = wire.load_object(raw)
    model = wire.model_of(body)
    prompts, prompt_tokens = _prompts(body.get("prompt"))
    stream_options = body.get("stream_options")
    return CompletionRequest(
        model=model,
        prompts=prompts,
        prompt_tokens=prompt_tokens,
        max_tokens=wire.max_tokens_of(body),
        n=wire.positive_int(body, "n", default=1, maximum=128),
        stream=body.get("stream") is True,
        include_usage=isinstance(stream_options, dict)
        and stream_options.get("include_usage") is True,
    )


def _prompts(value: object) -> tuple[list[str], int]:
    """The prompts as texts, and their token count (characters / 4, or the ids counted)."""
    if isinstance(value, str) or (isinstance(value, list) and value and _is_ids(value)):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_PROMPTS:
        msg = f"'prompt' must be a string or a non-empty array (at most {MAX_PROMPTS} items)"
        raise BadRequest(msg, "prompt")
    prompts: list[str] = []
    tokens = 0
    for item in value:
        if isinstance(item, str):
            prompts.append(item)
            tokens += wire.estimate_tokens(item)
        elif isinstance(item, list) and item and _is_ids(item):
            prompts.append(" ".join(map(str, item)))
            tokens += len(item)
        else:
            raise BadRequest("each 'prompt' must be a string or a token array", "prompt")
    return prompts, tokens


def _is_ids(items: list[Any]) -> bool:
    return all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in items)


class TextEncoder:
    """The bodies and `data:` events of one text completion."""

    def __init__(self, cid: str, req: CompletionRequest) -> None:
        self.req = req
        self._head: dict[str, Any] = {"id": cid, "object": "text_completion"}
        self._head.update(created=int(time.time()), model=req.model)

    def choice(self, index: int, text_: str, finish: str | None) -> dict[str, Any]:
        return {"text": text_, "index": index, "logprobs": None, "finish_reason": finish}

    def body(self, texts: list[str], finish: str, completion_tokens: int) -> bytes:
        n = self.req.n
        choices = [self.choice(i, texts[i // n], finish) for i in range(self.req.choices)]
        usage = wire.usage(self.req.prompt_tokens, completion_tokens)
        return orjson.dumps({**self._head, "choices": choices, "usage": usage})

    def event(self, index: int, text_: str, finish: str | None = None) -> bytes:
        chunk: dict[str, Any] = {**self._head, "choices": [self.choice(index, text_, finish)]}
        if self.req.include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def usage_event(self, completion_tokens: int) -> bytes:
        usage = wire.usage(self.req.prompt_tokens, completion_tokens)
        return b"data: " + orjson.dumps({**self._head, "choices": [], "usage": usage}) + b"\n\n"


async def handle(core: VendorCore, request: web.Request) -> web.StreamResponse:
    admitted = await core.admit(request, parse_completion_request)
    if not isinstance(admitted, Admitted):
        return admitted
    req = admitted.req
    natural = core.spec.output_tokens
    count = req.out_tokens(natural)
    finish = finish_reason(req.max_tokens, natural)
    tokens = [text.tokens(p, count) for p in req.prompts]
    encoder = TextEncoder(f"cmpl-sim-{core.name}-{next(core.ids)}", req)
    completion_tokens = count * req.choices
    kv_tokens = req.prompt_tokens + completion_tokens
    prompt = "".join(req.prompts)
    async with core.timing(prompt, req.prompt_tokens, kv_tokens, admitted.ttft_ms) as timing:
        if not req.stream:
            body = encoder.body(["".join(t) for t in tokens], finish, completion_tokens)
            usage = (req.prompt_tokens, completion_tokens)
            return await core.respond(
                request, body, admitted.fault, timing=timing, decoded=count, usage=usage
            )
        resp, fault = core.open_stream(request, admitted.fault)
        core.stats.prompt_tokens += req.prompt_tokens
        ttft_s, tps = timing
        await asyncio.sleep(ttft_s)
        events = _events(encoder, tokens, finish, tps)
        await send_events(request, resp, core.stats, events, fault=fault, choices=req.choices)
        return resp


def _events(
    encoder: TextEncoder, tokens: list[list[str]], finish: str, tps: Rate
) -> Callable[[Writer], AsyncIterator[int]]:
    req = encoder.req
    n = req.n
    count = len(tokens[0])

    def render(k: int) -> bytes:  # token k of every choice
        return b"".join(encoder.event(i, tokens[i // n][k]) for i in range(req.choices))

    async def events(out: Writer) -> AsyncIterator[int]:
        async for written in paced_tokens(out, count, tps, render):
            yield written
        await out.write(b"".join(encoder.event(i, "", finish) for i in range(req.choices)))
        if req.include_usage:
            await out.write(encoder.usage_event(count * req.choices))
        await out.write(wire.DONE_EVENT)

    return events
