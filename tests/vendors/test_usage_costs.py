"""Per vendor: a usage payload as its API reference shows it, read by the adapter's own usage
reader, gives exact token counts of each kind and a cost exact to the micro-dollar (Decimal),
each kind of token at its own rate."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from gateway.core.usage import Usage
from gateway.ledger.cost_map import Prices
from gateway.ledger.pricing import priced
from gateway.upstream.anthropic import messages_usage
from gateway.upstream.sse import parse_usage

D = Decimal
Reader = Callable[[object], Usage | None]
# (vendor, reader, usage payload, prices per 1M tokens,
#  (prompt, cache read, cache write, completion, reasoning), cost in USD)
CASES: list[tuple[str, Reader, dict[str, Any], Prices, tuple[int, ...], str]] = [
    (
        "openai chat, cached prompt",
        parse_usage,
        {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
         "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                       "accepted_prediction_tokens": 0,
                                       "rejected_prediction_tokens": 0}},
        Prices(D("0.15"), D("0.60"), cached=D("0.075")),
        (1200, 1024, 0, 300, 0),
        "0.0002832",  # 176*0.15 + 1024*0.075 + 300*0.60
    ),
    (
        "openai chat, reasoning model",
        parse_usage,
        {"prompt_tokens": 100, "completion_tokens": 500, "total_tokens": 600,
         "prompt_tokens_details": {"cached_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 448}},
        Prices(D("1.10"), D("4.40"), cached=D("0.55")),
        (100, 0, 0, 500, 448),
        "0.00231",  # 100*1.10 + 500*4.40 (reasoning at the output rate)
    ),
    (
        "openai responses",
        parse_usage,
        {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 87,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 123},
        Prices(D("2.50"), D("10.00"), cached=D("1.25")),
        (36, 0, 0, 87, 0),
        "0.00096",
    ),
    (
        "azure openai",
        parse_usage,
        {"completion_tokens": 120, "completion_tokens_details": {"reasoning_tokens": 64},
         "prompt_tokens": 2006, "prompt_tokens_details": {"cached_tokens": 1920},
         "total_tokens": 2126},
        Prices(D("2.50"), D("10.00"), cached=D("1.25")),
        (2006, 1920, 0, 120, 64),
        "0.003815",  # 86*2.50 + 1920*1.25 + 120*10
    ),
    (
        "anthropic, cache read and write",
        messages_usage,
        {"input_tokens": 50, "cache_creation_input_tokens": 2000,
         "cache_read_input_tokens": 10000, "output_tokens": 400},
        Prices(D("3"), D("15"), cached=D("0.30"), cache_write=D("3.75")),
        (12050, 10000, 2000, 400, 0),
        "0.01665",  # 50*3 + 2000*3.75 + 10000*0.30 + 400*15
    ),
    (
        "gemini openai endpoint, thoughts only in the total",
        parse_usage,
        {"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 553},
        Prices(D("0.30"), D("2.50"), cached=D("0.075")),
        (20, 0, 0, 533, 382),
        "0.0013385",  # 20*0.30 + (151+382)*2.50
    ),
    (
        "gemini openai endpoint, thoughts in the details, not in completion",
        parse_usage,
        {"prompt_tokens": 21, "completion_tokens": 0, "total_tokens": 81,
         "completion_tokens_details": {"reasoning_tokens": 60}},
        Prices(D("0.30"), D("2.50"), reasoning=D("3.50")),
        (21, 0, 0, 60, 60),
        "0.0002163",  # 21*0.30 + 60*3.50
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "payload", "prices", "tokens", "cost"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_usage_and_cost(
    reader: Reader, payload: dict[str, Any], prices: Prices, tokens: tuple[int, ...], cost: str
) -> None:
    usage = reader(payload)
    assert usage is not None
    got = (
        usage.prompt_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.completion_tokens,
        usage.reasoning_tokens,
    )
    assert got == tokens
    assert priced(prices, usage) == D(cost)
