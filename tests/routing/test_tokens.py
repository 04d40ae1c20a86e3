from __future__ import annotations

from gateway.routing.tokens import TokenCounter


def test_counts_with_the_bundled_tokenizer() -> None:
    counter = TokenCounter()
    assert counter.count([{"role": "user", "content": "hi"}]) is None  # not loaded yet
    assert counter.load()  # litellm ships cl100k_base: no network needed
    one = counter.count([{"role": "user", "content": "hello world"}])
    assert one == 3 + 4 + 2
    parts = counter.count([{"role": "user", "content": [{"type": "text", "text": "hello world"}]}])
    assert parts == one
