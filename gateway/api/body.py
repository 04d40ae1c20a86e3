"""What every dialect's body has in common: a JSON object, a model name, the `gateway` hints
and the prompt (its shape checked as the API does, each error naming its `param`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.config.policies import Strategy
from gateway.core.caller import ANONYMOUS, Caller
from gateway.core.operation import Operation
from gateway.core.prompt import Prompt, PromptError, read_prompt
from gateway.errors import InvalidRequest
from gateway.routing.policy import NO_HINTS, Hints
from gateway.routing.request import GatewayRequest
from gateway.routing.scoring import Demand

IMAGE_TOKENS = 85  # a low-detail image, OpenAI's published floor
# JSON parsing accepts 1024 levels, re-encoding for the vendor only 254: refuse at the edge,
# with room to spare for deep tool schemas.
MAX_DEPTH = 128


_TYPE_NAMES = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}


@dataclass(frozen=True, slots=True)
class Fields:
    """A dialect's field types, checked as the vendor's API does (each error names the field)."""

    ints: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()  # ints that must be at least 1
    numbers: tuple[str, ...] = ()
    types: Mapping[str, tuple[type, ...]] = field(default_factory=dict)

    def check(self, body: Mapping[str, Any]) -> None:
        for name in self.ints:
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise InvalidRequest(f"'{name}' must be an integer.", param=name)
            if name in self.positive and value is not None and value < 1:
                raise InvalidRequest(f"'{name}' must be at least 1.", param=name)
        for name in self.numbers:
            value = body.get(name)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise InvalidRequest(f"'{name}' must be a number.", param=name)
        for name, types in self.types.items():
            value = body.get(name)
            if value is not None and not isinstance(value, types):
                expected = " or ".join(_TYPE_NAMES[t] for t in types)
                raise InvalidRequest(f"'{name}' must be {expected}.", param=name)


def load_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # A body with fewer brackets than the bound cannot nest past it: most skip the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise InvalidRequest(f"The request body is nested deeper than {MAX_DEPTH} levels.")
    return body


def _deeper_than(value: object, limit: int) -> bool:
    """Iterative (a deep body must not exhaust our stack); visits containers only."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        assert isinstance(children, Iterable)
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    return model


def prompt_checked(op: Operation, body: dict[str, Any]) -> Prompt:
    try:
        return read_prompt(op, body)
    except PromptError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None


def prompt_tokens_estimate(prompt: Prompt) -> int:
    """The fast path's estimate: chars/4, a floor per image, ids as they are."""
    return prompt.chars // 4 + prompt.images * IMAGE_TOKENS + prompt.token_ids + 1


@dataclass(frozen=True, slots=True)
class Meta:
    """What the endpoint knows of a request besides its body."""

    request_id: str
    received: float  # perf_counter when it arrived
    caller: Caller = ANONYMOUS
    policy: str | None = None  # the x-gateway-policy header
    headers: Mapping[str, str] = field(default_factory=dict)  # forwarded to its own vendors


@dataclass(frozen=True, slots=True)
class Checked:
    body: dict[str, Any]
    model: str
    prompt: Prompt


def read(raw: bytes, op: Operation, fields: Fields) -> Checked:
    """How every dialect starts: a JSON object, a model name, the field types, the prompt."""
    body = load_object(raw)
    model = model_of(body)
    fields.check(body)
    return Checked(body, model, prompt_checked(op, body))


def request(
    op: Operation,
    checked: Checked,
    meta: Meta,
    *,
    output_tokens: int,
    stream: bool,
    client_wants_usage: bool,
    untranslatable: tuple[str, str] | None = None,
) -> GatewayRequest:
    """The GatewayRequest of a checked body (the `gateway` hints taken out of it)."""
    body, prompt = checked.body, checked.prompt
    return GatewayRequest(
        operation=op,
        endpoint=op.endpoint,
        model=checked.model,
        body=body,
        stream=stream,
        client_wants_usage=client_wants_usage,
        demand=Demand(
            prompt_tokens=prompt_tokens_estimate(prompt),
            output_tokens=output_tokens,
            capabilities=capabilities(body, prompt),
        ),
        prompt=prompt,
        request_id=meta.request_id,
        received=meta.received,
        caller=meta.caller,
        hints=hints_of(body),
        policy=meta.policy,
        headers=meta.headers,
        untranslatable=untranslatable,
    )


def capabilities(body: Mapping[str, Any], prompt: Prompt) -> frozenset[str]:
    """What a deployment must be capable of (tools, vision, json_mode), in any dialect."""
    caps = set()
    if body.get("tools"):
        caps.add("tools")
    if prompt.images:
        caps.add("vision")
    fmt = body.get("response_format")  # chat
    text = body.get("text")  # Responses: text.format
    if isinstance(text, dict):
        fmt = text.get("format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        caps.add("json_mode")
    return frozenset(caps)


def hints_of(body: dict[str, Any]) -> Hints:
    """The `gateway` field, removed from the body (it never goes upstream)."""
    return _hints(body.pop("gateway", None))


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
