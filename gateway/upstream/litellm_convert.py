"""litellm's replies and stream chunks (as plain dicts) into OpenAI chat JSON and SSE bytes, its
usage into ours, its response headers into rate-limit hints; and what of a client's body may
reach litellm at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.core.usage import Usage, token_count
from gateway.upstream.openai_compat import RATE_HEADERS, OpenAIChunks
from gateway.upstream.sse import event_object, parse_usage

# The OpenAI parameters passed on. A whitelist, because litellm also reads its own keyword
# arguments (api_base, api_key, aws_*, metadata, ...) and a client must not set those.
CHAT_PARAMS = frozenset(
    {
        "messages", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "seed", "response_format", "user", "reasoning_effort", "modalities", "audio",
        "prediction", "service_tier", "web_search_options",
    }
)  # fmt: skip
EMBEDDING_PARAMS = frozenset({"input", "dimensions", "encoding_format", "user"})
# litellm's additions to a message or delta that no OpenAI client expects.
_LITELLM_ONLY = ("provider_specific_fields", "thinking_blocks")
_PROVIDER_HEADER = "llm_provider-"


def usage_of(raw: object) -> Usage | None:
    """litellm's Usage (an OpenAI usage with Anthropic-style cache fields) as ours: prompt
    tokens include cache reads and writes; writes from `cache_creation_input_tokens`."""
    usage = parse_usage(raw)
    if usage is None or not isinstance(raw, dict):
        return usage
    details = raw.get("prompt_tokens_details")
    written = raw.get("cache_creation_input_tokens")
    if not written and isinstance(details, dict):
        written = details.get("cache_creation_tokens") or details.get("cache_write_tokens")
    count = token_count(written or 0)
    if not count:
        return usage
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cache_write_tokens=count,
        note=usage.note,
    )


class LitellmChunks(OpenAIChunks):
    """OpenAI's chat stream, its usage read with cache writes (litellm's usage chunk)."""

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        obj = event_object(event) if b'"usage"' in event else None
        if obj is None:
            return None, False
        return usage_of(obj.get("usage")), obj.get("choices") == []


LITELLM_CHUNKS = LitellmChunks()


def rate_hints(additional: object) -> dict[str, str]:
    """The vendor's rate-limit headers litellm kept (`_hidden_params['additional_headers']`, as
    OpenAI names or prefixed `llm_provider-`) under the names quota headroom reads."""
    if not isinstance(additional, Mapping):
        return {}
    out = {}
    for name in RATE_HEADERS:
        value = additional.get(name, additional.get(_PROVIDER_HEADER + name))
        if value is not None:
            out[name] = str(value)
    return out


def reply_body(obj: dict[str, Any]) -> bytes:
    """A ModelResponse's dump as OpenAI chat JSON (litellm-only fields left out)."""
    obj.pop("provider_specific_fields", None)
    for choice in obj.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            _clean(message)
    return orjson.dumps(obj)


def chunk_event(obj: dict[str, Any]) -> bytes:
    """A stream chunk's dump (exclude_none) as one SSE event of OpenAI's chat stream."""
    obj.pop("provider_specific_fields", None)
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        choice.setdefault("finish_reason", None)  # OpenAI sends it on every chunk
        delta = choice.get("delta")
        if isinstance(delta, dict):
            _clean(delta)
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _clean(message: dict[str, Any]) -> None:
    for key in _LITELLM_ONLY:
        message.pop(key, None)
    for key in ("function_call", "tool_calls", "reasoning_content", "audio", "annotations"):
        if key in message and message[key] is None:
            del message[key]


def passed(body: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in allowed}
