"""Parse and check a chat completion body: OpenAI's field types, naming the bad `param`."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config.policies import Strategy
from gateway.errors import InvalidRequest
from gateway.routing.policy import NO_HINTS, Hints
from gateway.routing.request import ChatRequest
from gateway.routing.scoring import Demand

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_INT = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_NUMBER = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_TYPES: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "logprobs": (bool,),
    "parallel_tool_calls": (bool,),
    "user": (str,),
    "tools": (list,),
    "tool_choice": (str, dict),
    "response_format": (dict,),
    "stream_options": (dict,),
    "stop": (str, list),
    "metadata": (dict,),
    "logit_bias": (dict,),
}
_TYPE_NAMES = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}
IMAGE_TOKENS = 85  # a low-detail image, OpenAI's published floor


def parse_chat(
    raw: bytes,
    *,
    request_id: str,
    received: float,
    team: str | None = None,
    policy: str | None = None,
) -> ChatRequest:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    _check_types(body)
    chars, images = _check_messages(body.get("messages"))
    hints = _hints(body.pop("gateway", None))
    out = body.get("max_completion_tokens") or body.get("max_tokens") or 0  # 0: router estimates
    stream = body.get("stream") is True
    opts = body.get("stream_options")
    demand = Demand(
        prompt_tokens=chars // 4 + images * IMAGE_TOKENS + 1,
        output_tokens=out * (body.get("n") or 1),
        capabilities=_capabilities(body, images),
    )
    return ChatRequest(
        model=model,
        body=body,
        stream=stream,
        client_wants_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
        demand=demand,
        request_id=request_id,
        received=received,
        hints=hints,
        team=team,
        policy=policy,
    )


def _check_types(body: dict[str, Any]) -> None:
    for name in _INT:
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRequest(f"'{name}' must be an integer.", param=name)
        if name in ("max_tokens", "max_completion_tokens", "n") and value is not None and value < 1:
            raise InvalidRequest(f"'{name}' must be at least 1.", param=name)
    for name in _NUMBER:
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise InvalidRequest(f"'{name}' must be a number.", param=name)
    for name, types in _TYPES.items():
        value = body.get(name)
        if value is not None and not isinstance(value, types):
            expected = " or ".join(_TYPE_NAMES[t] for t in types)
            raise InvalidRequest(f"'{name}' must be {expected}.", param=name)


def _check_messages(messages: object) -> tuple[int, int]:
    """Validate the messages; return (characters of text, number of images) for the estimates."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    chars = images = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"'messages[{i}]' must be an object.", param=f"messages[{i}]")
        if msg.get("role") not in _ROLES:
            raise InvalidRequest(
                f"'messages[{i}].role' must be one of {', '.join(sorted(_ROLES))}.",
                param=f"messages[{i}].role",
            )
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    text = part.get("text")
                    chars += len(text) if isinstance(text, str) else 0
                    images += part.get("type") == "image_url"
        elif content is not None:
            raise InvalidRequest(
                f"'messages[{i}].content' must be a string or an array of parts.",
                param=f"messages[{i}].content",
            )
    return chars, images


def _capabilities(body: dict[str, Any], images: int) -> frozenset[str]:
    caps = set()
    if body.get("tools"):
        caps.add("tools")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        caps.add("json_mode")
    if images:
        caps.add("vision")
    return frozenset(caps)


def _hints(raw: object) -> Hints:
    if raw is None:
        return NO_HINTS
    if not isinstance(raw, dict):
        raise InvalidRequest("'gateway' must be an object.", param="gateway")
    unknown = set(raw) - {"sort", "only", "ignore", "max_price", "max_ttft_ms"}
    if unknown:
        raise InvalidRequest(
            f"Unknown 'gateway' field(s): {', '.join(sorted(unknown))}.", param="gateway"
        )
    sort = raw.get("sort")
    if sort is not None and sort not in Strategy.__members__.values():
        choices = ", ".join(s.value for s in Strategy)
        raise InvalidRequest(f"'gateway.sort' must be one of {choices}.", param="gateway.sort")
    return Hints(
        sort=Strategy(sort) if sort is not None else None,
        only=_names(raw, "only"),
        ignore=_names(raw, "ignore"),
        max_price=_positive(raw, "max_price"),
        max_ttft_ms=_positive(raw, "max_ttft_ms"),
    )


def _names(raw: dict[str, Any], key: str) -> frozenset[str]:
    value = raw.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(
            f"'gateway.{key}' must be an array of strings.", param=f"gateway.{key}"
        )
    return frozenset(value)


def _positive(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise InvalidRequest(f"'gateway.{key}' must be a positive number.", param=f"gateway.{key}")
    return float(value)
