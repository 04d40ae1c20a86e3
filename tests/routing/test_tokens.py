from __future__ import annotations

from typing import Any

from gateway.core.operation import Operation
from gateway.core.prompt import Prompt, prompt_of
from gateway.routing.tokens import TokenCounter


def chat(messages: list[dict[str, Any]]) -> Prompt:
    return prompt_of(Operation.CHAT, {"messages": messages})


def test_counts_with_the_bundled_tokenizer() -> None:
    counter = TokenCounter()
    assert counter.count(chat([{"role": "user", "content": "hi"}])) is None  # not loaded yet
    assert counter.load()  # litellm ships cl100k_base: no network needed
    one = counter.count(chat([{"role": "user", "content": "hello world"}]))
    assert one == 3 + 4 + 2
    parts = counter.count(
        chat([{"role": "user", "content": [{"type": "text", "text": "hello world"}]}])
    )
    assert parts == one


async def test_loading_in_the_background_a_count_waits_for_it() -> None:
    """The gateway starts loading at start-up without waiting; the first request that needs
    a count gets the tokenizer's, not the chars/4 estimate (None)."""
    counter = TokenCounter()
    counter.start_loading()
    counted = await counter.count_off_loop(chat([{"role": "user", "content": "hello world"}]))
    assert counted == 3 + 4 + 2
    counter.start_loading()  # loaded: nothing more to do
    assert counter.count(chat([{"role": "user", "content": "hello world"}])) == counted


async def test_a_count_asked_before_any_load_loads_the_tokenizer() -> None:
    """A gateway without TPM limits does not load it at start-up: the first count (the
    count_tokens endpoint, a limit added by a reload) loads it and waits for it."""
    counter = TokenCounter()
    counted = await counter.count_off_loop(chat([{"role": "user", "content": "hello world"}]))
    assert counted == 3 + 4 + 2
