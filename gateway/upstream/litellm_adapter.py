"""Adapter for the kinds litellm knows the wire formats of (bedrock, vertex, cohere, and any
litellm model string with kind: litellm): litellm.acompletion / aembedding with our credentials
passed on every call, its replies and stream chunks turned into OpenAI chat bytes, its errors
mapped by type. litellm is imported only once an adapter of this kind exists (litellm_loader).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import httpx

from gateway.config.litellm_kinds import litellm_model
from gateway.core.operation import Operation
from gateway.errors import UpstreamError, UpstreamProtocolError
from gateway.upstream import litellm_loader
from gateway.upstream.base import Call, Reply
from gateway.upstream.litellm_convert import (
    CHAT_PARAMS,
    EMBEDDING_PARAMS,
    LITELLM_CHUNKS,
    chunk_event,
    passed,
    rate_hints,
    reply_body,
    usage_of,
)
from gateway.upstream.litellm_errors import map_litellm_error
from gateway.upstream.sse import DONE
from gateway.upstream.sse_stream import SseStream

_SERVED = (Operation.CHAT, Operation.EMBEDDINGS)


class LitellmUpstream:
    def __init__(
        self,
        *,
        kind: str,
        credentials: Mapping[str, str],
        secrets: Sequence[str],
        read_timeout_s: float,
    ) -> None:
        """credentials: litellm's keyword arguments (api_key, api_base, aws_*, vertex_*), read
        from providers.yaml's references when the adapter is built; never its own lookups."""
        self._kind = kind  # bedrock, vertex, cohere: litellm's provider prefix added per call
        self._credentials = dict(credentials)
        self._secrets = tuple(s for s in secrets if s)
        self._read_timeout_s = read_timeout_s
        litellm_loader.start()  # the import begins now, on its own thread

    async def complete(self, call: Call) -> Reply:
        if call.operation not in _SERVED:  # routing keeps such requests away; a guard
            raise UpstreamProtocolError(f"litellm kinds do not serve {call.operation}")
        module = await litellm_loader.litellm()
        try:
            if call.operation is Operation.EMBEDDINGS:
                args = self._args(call, passed(call.body, EMBEDDING_PARAMS))
                response = await module.aembedding(**args)
            else:
                args = self._args(call, passed(call.body, CHAT_PARAMS))
                response = await module.acompletion(**args, stream=False)
        except Exception as exc:
            raise self._mapped(module, exc) from exc
        obj = response.model_dump()
        if not isinstance(obj.get("choices" if call.operation is Operation.CHAT else "data"), list):
            raise UpstreamProtocolError("litellm returned a reply without choices or data")
        hints = rate_hints(getattr(response, "_hidden_params", {}).get("additional_headers"))
        return Reply(body=reply_body(obj), usage=usage_of(obj.get("usage")), headers=hints)

    async def open_stream(self, call: Call) -> SseStream:
        """The stream, primed to its first chunk: until then a failure fails over."""
        if call.operation is not Operation.CHAT:
            raise UpstreamProtocolError(f"{call.operation} cannot be streamed through litellm")
        module = await litellm_loader.litellm()
        started = time.perf_counter()
        args = self._args(call, passed(call.body, CHAT_PARAMS))
        # Usage is how we bill a stream: asked for even if the client did not.
        args["stream_options"] = {"include_usage": True}
        try:
            wrapper = await module.acompletion(**args, stream=True)
        except Exception as exc:
            raise self._mapped(module, exc) from exc
        chunks = aiter(wrapper)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            await wrapper.aclose()
            raise UpstreamProtocolError("upstream closed the stream before any event") from None
        except Exception as exc:
            await wrapper.aclose()  # the vendor's response goes back to litellm's pool
            raise self._mapped(module, exc) from exc
        except BaseException:  # cancelled (a lost hedge, a client gone): closed all the same
            await wrapper.aclose()
            raise
        hints = rate_hints(getattr(wrapper, "_hidden_params", {}).get("additional_headers"))
        body = _ChunkBody(first, chunks, wrapper.aclose, module, self._secrets)
        stream = SseStream(
            httpx.Response(200, stream=body),
            LITELLM_CHUNKS,
            headers=hints,
            strip_usage=not call.client_wants_usage,
            started=started,
            resume=call.resume,
        )
        await stream.prime()
        return stream

    async def probe(self) -> bool:
        """No free endpoint is common to litellm's vendors: reachable as far as we can tell (an
        open circuit then lets one request through, as after any cool-down)."""
        return True

    async def aclose(self) -> None:
        """litellm keeps its HTTP clients in a cache of its own, shared by the process."""

    def _args(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **params,
            **self._credentials,
            "model": litellm_model(self._kind, call.upstream_model),
            "timeout": call.read_timeout_s or self._read_timeout_s,
            # Failover is ours: litellm must not retry or drop to fallbacks on its own.
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,  # an OpenAI parameter the vendor lacks is left out, not an error
        }

    def _mapped(self, module: ModuleType, exc: Exception) -> Exception:
        mapped: UpstreamError | None = map_litellm_error(module, exc, self._secrets)
        return mapped if mapped is not None else exc


class _ChunkBody(httpx.AsyncByteStream):
    """litellm's chunks as the bytes of an OpenAI SSE body, so the one relay (SseStream) reads
    them like any vendor's stream; a failure mid-stream arrives there as a broken read."""

    def __init__(
        self,
        first: Any,
        chunks: AsyncIterator[Any],
        close: Callable[[], Awaitable[None]],
        module: ModuleType,
        secrets: Sequence[str],
    ) -> None:
        self._first: Any = first
        self._chunks = chunks
        self._close = close
        self._module = module
        self._secrets = secrets

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield chunk_event(self._first.model_dump(exclude_none=True))
        self._first = None
        try:
            async for chunk in self._chunks:
                yield chunk_event(chunk.model_dump(exclude_none=True))
        except Exception as exc:
            mapped = map_litellm_error(self._module, exc, self._secrets)
            if mapped is None:
                raise
            raise httpx.ReadError(mapped.message) from exc
        yield DONE + b"\n\n"

    async def aclose(self) -> None:
        """A client that left, or the end: litellm's stream closes its vendor response."""
        await self._close()
