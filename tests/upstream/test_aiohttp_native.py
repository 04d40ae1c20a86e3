"""The default transport (aiohttp called directly) against real sockets: errors map as httpx's."""

from __future__ import annotations

import pytest

from gateway.core.operation import Operation
from gateway.errors import UpstreamConnectError, UpstreamTimeout
from gateway.sim import VendorSpec, run_sim
from gateway.sim.config import SimConfig
from gateway.upstream.base import Call
from gateway.upstream.openai_compat import OpenAICompatUpstream
from gateway.upstream.transport import make_transport
from tests.redis_servers import free_port

BODY = {"messages": [{"role": "user", "content": "hi"}]}


def adapter(base_url: str, read_timeout_s: float = 5.0) -> OpenAICompatUpstream:
    return OpenAICompatUpstream(
        base_url=base_url,
        api_key="sk-test",
        transport=make_transport("aiohttp", max_connections=4),
        connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s,
    )


async def test_a_refused_connection_is_a_connect_error() -> None:
    up = adapter(f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    with pytest.raises(UpstreamConnectError):
        await up.complete(Call(Operation.CHAT, "m", BODY, False, False, "r1"))
    assert not await up.probe()
    await up.aclose()


async def test_answers_streams_and_times_out_through_aiohttp() -> None:
    spec = VendorSpec(models=["m"], ttft_ms=1, output_tokens=3)  # `m-ttft-800ms`: slow
    async with run_sim(SimConfig(vendors={"v": spec})) as vendors:
        up = adapter(vendors["v"].base_url, read_timeout_s=0.3)
        reply = await up.complete(Call(Operation.CHAT, "m", BODY, False, False, "r2"))
        assert reply.usage is not None and reply.usage.completion_tokens == 3
        stream = await up.open_stream(Call(Operation.CHAT, "m", BODY, True, False, "r3"))
        body = b"".join([chunk async for chunk in stream])
        await stream.aclose()
        assert body.endswith(b"data: [DONE]\n\n") and stream.usage is not None
        assert await up.probe()
        with pytest.raises(UpstreamTimeout):  # no first byte within the read timeout
            await up.complete(Call(Operation.CHAT, "m-ttft-800ms", BODY, False, False, "r4"))
        await up.aclose()
