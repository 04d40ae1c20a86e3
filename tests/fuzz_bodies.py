"""Hypothesis strategies for fuzzing a live gateway: every public and admin endpoint, with bodies
that are mostly valid-ish for the endpoint (random values in the right places) and a share
mangled (random JSON, torn JSON, deep nesting, huge numbers, odd unicode, NUL, not JSON at all,
over the body limit), random headers (keys good and bad, in either header, team, policy,
anthropic-version, content-type) and random path ids.

`calls(known)` draws one `Call`; `known` holds what the test's set-up created (keys, key ids,
teams), so a share of the draws uses real ones."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

Shape = Literal["openai", "anthropic"]
BodyMaker = Callable[[st.DrawFn], dict[str, Any]]


@dataclass(frozen=True)
class Known:
    """What set-up made: the master key, gw- keys (one free, one allowed only model `m`, one
    revoked), key ids safe to PATCH/DELETE, the key holders' team and teams safe to PATCH."""

    master: str
    key: str
    restricted: str
    revoked: str
    victim_ids: tuple[str, ...]
    team: str
    victim_teams: tuple[str, ...]
    max_body_bytes: int


@dataclass(frozen=True, repr=False)
class Call:
    endpoint: str  # the route as listed, e.g. "PATCH /admin/keys/{id}"
    method: str
    path: str  # with the id filled in and any query string
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None
    chunked: bool  # sent without content-length

    @property
    def shape(self) -> Shape:
        """The error shape its caller expects: Anthropic's on the Messages routes."""
        bare = self.path.split("?", 1)[0]
        return "anthropic" if bare in ("/v1/messages", "/v1/messages/count_tokens") else "openai"

    def reproduction(self) -> str:
        return (
            f"{self.method} {self.path}\nheaders: {', '.join(_short(h) for h in self.headers)}\n"
            f"body ({'chunked' if self.chunked else 'content-length'}): {_short(self.body)}"
        )

    def __repr__(self) -> str:  # hypothesis prints it: a 64 KiB body or header, elided
        return f"Call({self.reproduction()!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


def _short(value: object) -> str:
    """A repr, any bytes value over 300 bytes cut to its start and its length."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, bytes) and len(value) > 300:
        return f"{value[:300]!r}... ({len(value)} bytes)"
    return repr(value)


# Values


ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",  # a lone surrogate: `\ud800` in ASCII JSON, invalid UTF-8 raw
        "\u202e\u200b\ufeff",
        "\U0001f984 h\u00e9llo \u2603",
        "\n\r\t",
        "%00",
        "../..",
        "x" * 3000,
        "null",
        "{}",
        "1e999",
    ]
)
TEXT = st.text(max_size=30) | ODD_TEXT
HUGE_INTS = st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63, 2**64 + 1, -(2**63) - 1, 10**40])
NUMBERS = (
    st.integers(-(2**70), 2**70)
    | HUGE_INTS
    | st.floats()  # NaN and infinities dump as `NaN`, `Infinity`: not JSON
    | st.sampled_from([0.0, -0.0, 1e308, 5e-324])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
MODELS = (
    st.sampled_from(["m", "r", "claude-x", "o/m", "c/claude-x", "any", "fast", "nope", "", "m\x00"])
    | TEXT
)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in n draws. (Not `== 0`: hypothesis draws zeros far more often than
    1/n, and shrinks towards them; False is the simpler case.)"""
    return bool(draw(st.integers(0, n - 1)) == n // 2)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON at all."""
    return st.one_of(value, value, value, ANY_JSON)


def _pick(draw: st.DrawFn, body: dict[str, Any], extras: dict[str, st.SearchStrategy[Any]]) -> None:
    for name in draw(st.sets(st.sampled_from(sorted(extras)), max_size=len(extras))):
        body[name] = draw(_maybe(extras[name]))


COMMON = {
    "temperature": st.floats(0, 2) | NUMBERS,
    "top_p": st.floats(0, 1),
    "stream": st.booleans(),
    "user": TEXT,
    "metadata": st.dictionaries(TEXT, TEXT, max_size=2),
    "gateway": st.fixed_dictionaries(
        {},
        optional={
            "sort": st.sampled_from(["cheapest", "fastest", "balanced", "nope"]),
            "only": st.lists(st.sampled_from(["o", "c", "o/m", "zz"]), max_size=2),
            "ignore": st.lists(st.sampled_from(["o", "c"]), max_size=1),
            "max_price": NUMBERS,
            "max_ttft_ms": NUMBERS,
        },
    ),
}


# OpenAI bodies

CHAT_PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.fixed_dictionaries(
                {"url": st.sampled_from(["https://x/y.png", "data:image/png;base64,AAAA", ""])}
            ),
        }
    ),
    st.fixed_dictionaries({"type": TEXT}),
)
CHAT_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "developer", "tool", "bot"]),
        "content": _maybe(TEXT | st.lists(CHAT_PART, max_size=2)),
    },
    optional={"name": TEXT, "tool_call_id": TEXT},
)
FUNCTION_TOOL = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": TEXT},
            optional={"parameters": st.just({"type": "object", "properties": {}}) | ANY_JSON},
        ),
    }
)
CHAT_EXTRAS = {
    **COMMON,
    "max_tokens": st.integers(1, 64) | NUMBERS,
    "max_completion_tokens": st.integers(1, 64),
    "n": st.integers(1, 3),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "tools": st.lists(FUNCTION_TOOL, max_size=2),
    "tool_choice": st.sampled_from(["auto", "none", "required"]),
    "response_format": st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "json_object", "json_schema", "xml"])}
    ),
    "stop": TEXT | st.lists(TEXT, max_size=3),
    "seed": NUMBERS,
    "logprobs": st.booleans(),
}


def chat_body(draw: st.DrawFn) -> dict[str, Any]:
    body = {
        "model": draw(MODELS),
        "messages": draw(_maybe(st.lists(CHAT_MESSAGE, min_size=1, max_size=3))),
    }
    _pick(draw, body, CHAT_EXTRAS)
    return body


PROMPTS = st.one_of(
    TEXT,
    st.lists(TEXT, max_size=3),
    st.lists(st.integers(-1, 2**40), max_size=5),
    st.lists(st.lists(st.integers(0, 100), max_size=3), max_size=2),
)


def completions_body(draw: st.DrawFn) -> dict[str, Any]:
    body = {"model": draw(MODELS), "prompt": draw(_maybe(PROMPTS))}
    extras = {
        **COMMON,
        "max_tokens": st.integers(1, 64) | NUMBERS,
        "n": st.integers(1, 3),
        "echo": st.booleans(),
        "suffix": TEXT,
        "logprobs": st.integers(0, 5),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    }
    _pick(draw, body, extras)
    return body


def embeddings_body(draw: st.DrawFn) -> dict[str, Any]:
    body = {"model": draw(MODELS), "input": draw(_maybe(PROMPTS))}
    extras = {
        "dimensions": st.integers(1, 16) | NUMBERS,
        "encoding_format": st.sampled_from(["float", "base64", "int8"]),
        "user": TEXT,
        "gateway": COMMON["gateway"],
    }
    _pick(draw, body, extras)
    return body


RESPONSES_ITEM = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "assistant", "developer"]),
            "content": TEXT
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["input_text", "output_text", "x"]), "text": TEXT}
                ),
                max_size=2,
            ),
        },
        optional={"type": st.just("message")},
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call_output"), "call_id": TEXT, "output": TEXT}
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call"), "call_id": TEXT, "name": TEXT, "arguments": TEXT}
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["reasoning", "item_reference", "??"])}),
)


def responses_body(draw: st.DrawFn) -> dict[str, Any]:
    body = {
        "model": draw(MODELS),
        "input": draw(_maybe(TEXT | st.lists(RESPONSES_ITEM, max_size=3))),
    }
    extras = {
        **COMMON,
        "instructions": TEXT,
        "max_output_tokens": st.integers(1, 64) | NUMBERS,
        "store": st.booleans(),
        "background": st.booleans(),
        "previous_response_id": TEXT,
        "tools": st.lists(
            st.fixed_dictionaries(
                {"type": st.just("function"), "name": TEXT, "parameters": st.just({})}
            )
            | st.fixed_dictionaries({"type": st.sampled_from(["web_search", "file_search"])}),
            max_size=2,
        ),
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | ANY_JSON,
        "text": st.fixed_dictionaries(
            {"format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"])})}
        ),
        "reasoning": st.fixed_dictionaries({"effort": st.sampled_from(["low", "high", "max"])}),
        "include": st.lists(TEXT, max_size=2),
        "parallel_tool_calls": st.booleans(),
        "top_logprobs": st.integers(0, 20),
    }
    _pick(draw, body, extras)
    return body


# Anthropic bodies

BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source": st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["base64", "url"]),
                    "media_type": st.just("image/png"),
                    "data": st.just("AAAA"),
                }
            ),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_use"), "id": TEXT, "name": TEXT, "input": ANY_JSON}
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_result"), "tool_use_id": TEXT, "content": TEXT | st.lists(ANY_JSON)}
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["thinking", "document", "?"])}),
)
ANTHROPIC_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "user", "system"]),
        "content": _maybe(TEXT | st.lists(BLOCK, max_size=2)),
    }
)
MESSAGES_EXTRAS = {
    **COMMON,
    "system": TEXT | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT})),
    "stop_sequences": st.lists(TEXT, max_size=2),
    "tools": st.lists(
        st.fixed_dictionaries(
            {"name": TEXT, "input_schema": st.just({"type": "object"}) | ANY_JSON},
            optional={"description": TEXT},
        ),
        max_size=2,
    ),
    "tool_choice": st.fixed_dictionaries(
        {"type": st.sampled_from(["auto", "any", "tool", "none"])}, optional={"name": TEXT}
    ),
    "thinking": st.fixed_dictionaries(
        {"type": st.sampled_from(["enabled", "disabled"]), "budget_tokens": NUMBERS}
    ),
    "top_k": st.integers(0, 50) | NUMBERS,
}


def messages_body(draw: st.DrawFn) -> dict[str, Any]:
    body = {
        "model": draw(MODELS),
        "max_tokens": draw(st.integers(1, 64) | NUMBERS | st.none()),
        "messages": draw(_maybe(st.lists(ANTHROPIC_MESSAGE, min_size=1, max_size=3))),
    }
    _pick(draw, body, MESSAGES_EXTRAS)
    return body


def count_tokens_body(draw: st.DrawFn) -> dict[str, Any]:
    body = messages_body(draw)
    if draw(st.booleans()):
        del body["max_tokens"]
    return body


# Admin bodies

BUDGETS = NUMBERS | st.sampled_from(["1.5", "NaN", "Infinity", "-1", "1e400", "0x10", " 2 "])
COUNTS = st.integers(1, 10_000) | NUMBERS
LIMITS = {
    "models": st.lists(st.sampled_from(["m", "claude-x"]) | TEXT, max_size=3) | TEXT,
    "rpm": COUNTS,
    "tpm": COUNTS,
    "budget_usd_day": BUDGETS,
    "budget_usd_month": BUDGETS,
}
EXPIRY = st.integers(1, 10**6) | st.sampled_from([0, 10 * 366 * 86400, 10 * 366 * 86400 + 1])


def _admin(known: Known, *, team: bool, expiry: bool, name: str) -> BodyMaker:
    def make(draw: st.DrawFn) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if team:  # the new key's team (created if missing); NEVER the key holders' own
            body[name] = draw(_maybe(st.sampled_from([*known.victim_teams, "v-new"]) | TEXT))
        extras: dict[str, st.SearchStrategy[Any]] = dict(LIMITS)
        if expiry:
            extras |= {"expires_in_s": EXPIRY | NUMBERS, "name": TEXT}
        _pick(draw, body, extras)
        return body

    return make


# Valid bodies: what a well-behaved client sends, with random values where they are free


PLAIN = st.text(max_size=60)
NONEMPTY = st.text(min_size=1, max_size=60)
NAMES = st.from_regex(r"[a-z0-9][a-z0-9_.:@-]{0,12}", fullmatch=True)
OPENAI_MODELS = st.sampled_from(["m", "o/m", "fast", "any"])
USER = st.fixed_dictionaries({"role": st.just("user"), "content": PLAIN})


def _valid(required: dict[str, Any], optional: dict[str, Any]) -> BodyMaker:
    strategy = st.fixed_dictionaries(required, optional=optional)
    return lambda draw: draw(strategy)


SAMPLING = {
    "max_tokens": st.integers(1, 64),
    "stream": st.booleans(),
    "temperature": st.floats(0, 2),
}
VALID_CHAT = _valid(
    {"model": OPENAI_MODELS, "messages": st.lists(USER, min_size=1, max_size=2)},
    {
        **SAMPLING,
        "stream_options": st.just({"include_usage": True}),
        "gateway": st.just({"sort": "cheapest"}),
    },
)
VALID_COMPLETIONS = _valid({"model": OPENAI_MODELS, "prompt": PLAIN}, SAMPLING)
VALID_EMBEDDINGS = _valid(
    {"model": OPENAI_MODELS, "input": NONEMPTY | st.lists(NONEMPTY, min_size=1, max_size=3)},
    {"dimensions": st.integers(1, 8), "encoding_format": st.sampled_from(["float", "base64"])},
)
VALID_RESPONSES = _valid(
    {
        "model": st.sampled_from(["r", "t/r", "m"]),
        "input": PLAIN | st.lists(USER, min_size=1, max_size=2),
    },
    {
        "max_output_tokens": st.integers(1, 64),
        "stream": st.booleans(),
        "instructions": PLAIN,
        "store": st.just(False),
    },
)
ANTHROPIC_MODELS = st.sampled_from(["claude-x", "c/claude-x", "m", "any"])
VALID_COUNT_TOKENS = _valid(
    {"model": ANTHROPIC_MODELS, "messages": st.lists(USER, min_size=1, max_size=2)},
    {"system": PLAIN, "temperature": st.floats(0, 1)},
)
VALID_MESSAGES = _valid(
    {
        "model": ANTHROPIC_MODELS,
        "max_tokens": st.integers(1, 64),
        "messages": st.lists(USER, min_size=1, max_size=2),
    },
    {"system": PLAIN, "stream": st.booleans(), "temperature": st.floats(0, 1)},
)
VALID_LIMITS = {
    "models": st.just(["m"]),
    "rpm": st.integers(1, 10_000),
    "tpm": st.integers(1, 10**9),
    "budget_usd_day": st.sampled_from(["1.5", 10, 0.25]),
    "budget_usd_month": st.sampled_from(["100", 1000]),
}


def _valid_admin(known: Known) -> dict[str, BodyMaker]:
    victims = st.sampled_from([*known.victim_teams, "v-new"])
    return {
        "key": _valid(
            {"team": victims},
            {**VALID_LIMITS, "name": PLAIN, "expires_in_s": st.integers(60, 10**6)},
        ),
        "patch_key": _valid(
            {}, {**VALID_LIMITS, "name": PLAIN, "expires_in_s": st.integers(60, 10**6)}
        ),
        "team": _valid({"name": NAMES.map(lambda n: "v-" + n)}, VALID_LIMITS),
        "patch_team": _valid({}, VALID_LIMITS),
    }


# Requests


def _key_id(known: Known) -> st.SearchStrategy[str]:
    """Ids of keys that may be changed (never the ones the requests authenticate with)."""
    return st.sampled_from(known.victim_ids) | TEXT | st.sampled_from(["gw-", "gw-" + "a" * 60])


def _team_name(known: Known) -> st.SearchStrategy[str]:
    return st.sampled_from(known.victim_teams) | TEXT


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    valid: BodyMaker | None = None  # None: sent without a body (sometimes a random one anyway)
    fuzzy: BodyMaker | None = None  # the body's fields with odd values, fields of other types


def routes(known: Known) -> list[Route]:
    """Every public and admin endpoint (gateway/app.py mounts them)."""
    valid = _valid_admin(known)
    fuzzy_key = _admin(known, team=True, expiry=True, name="team")
    fuzzy_patch_key = _admin(known, team=False, expiry=True, name="")
    fuzzy_team = _admin(known, team=True, expiry=False, name="name")
    fuzzy_patch_team = _admin(known, team=False, expiry=False, name="")
    return [
        Route("POST", "/v1/chat/completions", VALID_CHAT, chat_body),
        Route("POST", "/v1/completions", VALID_COMPLETIONS, completions_body),
        Route("POST", "/v1/embeddings", VALID_EMBEDDINGS, embeddings_body),
        Route("POST", "/v1/responses", VALID_RESPONSES, responses_body),
        Route("POST", "/v1/messages", VALID_MESSAGES, messages_body),
        Route("POST", "/v1/messages/count_tokens", VALID_COUNT_TOKENS, count_tokens_body),
        Route("POST", "/v1/route/explain", VALID_CHAT, chat_body),
        Route("GET", "/v1/models"),
        Route("GET", "/healthz"),
        Route("GET", "/readyz"),
        Route("GET", "/metrics"),
        Route("GET", "/admin/providers"),
        Route("GET", "/admin/config"),
        Route("POST", "/admin/reload"),
        Route("POST", "/admin/keys", valid["key"], fuzzy_key),
        Route("GET", "/admin/keys"),
        Route("GET", "/admin/keys/{id}"),
        Route("PATCH", "/admin/keys/{id}", valid["patch_key"], fuzzy_patch_key),
        Route("DELETE", "/admin/keys/{id}"),
        Route("POST", "/admin/teams", valid["team"], fuzzy_team),
        Route("GET", "/admin/teams"),
        Route("GET", "/admin/teams/{name}"),
        Route("PATCH", "/admin/teams/{name}", valid["patch_team"], fuzzy_patch_team),
    ]


def _auth(known: Known, path: str) -> st.SearchStrategy[tuple[tuple[bytes, bytes], ...]]:
    """Mostly a key that works there (else few bodies get past authentication): the master key
    on the admin routes, any key elsewhere, in `x-api-key` too on the Anthropic routes; often
    one that does not work, or none."""
    admin = path.startswith("/admin")
    good = st.sampled_from(
        [known.master] if admin else [known.master, known.key, known.key, known.restricted]
    ).map(_header)
    valid = good.map(lambda s: ((b"authorization", b"Bearer " + s),))
    if path.startswith("/v1/messages"):
        valid |= good.map(lambda s: ((b"x-api-key", s),))
    secrets = (
        st.sampled_from(
            [known.master, known.key, known.restricted, known.revoked, "gw-" + "0" * 40]
        )
        | TEXT
    )
    bearer = secrets.map(lambda s: ((b"authorization", b"Bearer " + _header(s)),))
    odd = st.sampled_from(
        [
            f"bearer {known.master}",
            f"Bearer  {known.master}",
            f"Bearer {known.master} ",
            "Bearer ",
            "Bearer",
            f"Basic {known.master}",
            known.key,
        ]
    ).map(lambda s: ((b"authorization", _header(s)),))
    x_api_key = secrets.map(lambda s: ((b"x-api-key", _header(s)),))
    both = st.tuples(bearer, x_api_key).map(lambda pair: pair[0] + pair[1])
    anything = st.one_of(bearer, x_api_key, odd, both, st.just(()))
    return st.integers(0, 3).flatmap(lambda n: valid if n else anything)


def _header(value: str) -> bytes:
    """A value h11 will send: UTF-8, without the bytes that would end or split the header."""
    raw = value.encode("utf-8", "surrogatepass").translate(None, _CONTROL).strip()
    return raw or b"x"


_CONTROL = bytes([*range(0x20), 0x7F])  # not HTTP: the client library refuses to send them


CONTENT_TYPES = st.sampled_from(
    [
        b"application/json",
        b"application/json; charset=utf-16",
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=zz",
        b"",
    ]
)
OPTIONAL_HEADERS: dict[bytes, st.SearchStrategy[bytes]] = {
    b"content-type": CONTENT_TYPES,
    b"x-gateway-team": (st.sampled_from(["fuzz", "v-one", "other"]) | TEXT).map(_header),
    b"x-gateway-policy": (st.sampled_from(["any", "fast", "nope"]) | TEXT).map(_header),
    b"anthropic-version": (st.sampled_from(["2023-06-01", "1999-01-01"]) | TEXT).map(_header),
    b"anthropic-beta": TEXT.map(_header),
    b"x-gateway-explain": st.sampled_from([b"1", b"0", b"yes"]),
    b"x-request-id": TEXT.map(_header),
    b"x-session-id": TEXT.map(_header),
    b"content-encoding": st.sampled_from([b"gzip", b"br", b"identity"]),
    b"accept": st.sampled_from([b"text/event-stream", b"*/*", b"application/xml"]),
}


@st.composite
def _headers(draw: st.DrawFn, known: Known, path: str) -> tuple[tuple[bytes, bytes], ...]:
    headers = list(draw(_auth(known, path)))
    if draw(st.integers(0, 2)) > 0:  # mostly: the content-type clients send
        headers.append((b"content-type", b"application/json"))
    for name in draw(st.sets(st.sampled_from(sorted(OPTIONAL_HEADERS)), max_size=4)):
        headers.append((name, draw(OPTIONAL_HEADERS[name])))
    if _one_in(draw, 60):  # a header section over the HTTP guard's 64 KiB
        headers.append((b"x-pad", b"y" * 200_000))
    return tuple(headers)


def _dumps(body: Any, draw: st.DrawFn) -> bytes:
    """json (orjson refuses ints past 64 bits); now and then raw UTF-8, lone surrogates and all."""
    if draw(st.booleans()):
        return json.dumps(body).encode()
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _deep(raw: bytes, depth: int) -> bytes:
    """The object `raw` with one more field nested `depth` arrays deep."""
    nest = b"[" * depth + b"1" + b"]" * depth
    if raw.startswith(b"{") and raw.endswith(b"}") and len(raw) > 2:
        return raw[:-1] + b',"deep":' + nest + b"}"
    return b'{"deep":' + nest + b"}"


@st.composite
def _mangled(draw: st.DrawFn, raw: bytes) -> bytes:
    how = draw(st.integers(0, 8))
    if how == 0:
        return _dumps(draw(ANY_JSON), draw)
    if how == 1:
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]  # torn
    if how == 2:
        return _deep(raw, draw(st.sampled_from([100, 127, 128, 129, 200, 1000, 5000])))
    if how == 3:  # a number no float holds, and one no parser should spend time on
        number = draw(st.sampled_from([b"1e400", b"-1e400", b"9" * 5000, b"1" + b"0" * 400]))
        return raw.replace(b"1", number, 1) if b"1" in raw else b'{"model":' + number + b"}"
    if how == 4:
        return draw(st.binary(max_size=64))
    if how == 5:
        return draw(
            st.sampled_from([b"", b"null", b"[]", b'"x"', b"{}", b"\x00", b"\xef\xbb\xbf{}"])
        )
    if how == 6:  # a valid body, then more
        return raw + draw(st.sampled_from([b"{}", b"\x00", b" x", b"\n\n"]))
    if how == 7:  # duplicate keys: the last one counts
        return raw[:-1] + b',"model":1}' if raw.endswith(b"}") else raw
    return raw.replace(b'"', b"'")  # JavaScript, not JSON


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # (HEAD: no body to check)


@st.composite
def calls(draw: st.DrawFn, known: Known) -> Call:
    route = draw(st.sampled_from(routes(known)))
    method = route.method
    if _one_in(draw, 12):  # now and then a method the path may not have
        method = draw(st.sampled_from(METHODS))
    body = draw(_body(route, known))
    return Call(
        endpoint=f"{method} {route.template}",
        method=method,
        path=draw(_path(route, known)),
        headers=draw(_headers(known, route.template)),
        body=body,
        chunked=body is not None and _one_in(draw, 6),
    )


@st.composite
def _path(draw: st.DrawFn, route: Route, known: Known) -> str:
    path = route.template
    if "{id}" in path:
        path = path.replace("{id}", _segment(draw(_key_id(known))))
    if "{name}" in path:
        path = path.replace("{name}", _segment(draw(_team_name(known))))
    if route.method == "GET" and _one_in(draw, 4):
        query = {"team": draw(TEXT), draw(st.sampled_from(["x", "team"])): draw(TEXT)}
        path += "?" + urllib.parse.urlencode(query, encoding="utf-8", errors="surrogatepass")
    return path


@st.composite
def _body(draw: st.DrawFn, route: Route, known: Known) -> bytes | None:
    kind = draw(st.integers(0, 9))  # 0-3 valid, 4-7 odd values, 8-9 mangled bytes
    if route.valid is None or route.fuzzy is None:
        return _dumps(draw(ANY_JSON), draw) if kind >= 8 else None  # a body where none is due
    body = _dumps((route.valid if kind < 4 else route.fuzzy)(draw), draw)
    if _one_in(draw, 20):  # over the body limit
        return body + b" " * (known.max_body_bytes + 1 - len(body))
    return draw(_mangled(body)) if kind >= 8 else body


def _segment(value: str) -> str:
    """A path segment (percent-encoded: `/`, `?`, `#` and all), never empty."""
    return urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe="") or "%20"
