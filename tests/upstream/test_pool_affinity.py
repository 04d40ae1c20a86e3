"""The pool's prefix-affinity table: TTL, bound, and what it publishes to the other gateways."""

from __future__ import annotations

from gateway.core.operation import Operation
from gateway.core.prompt import prompt_of
from gateway.upstream.pool_affinity import PREFIX_CHARS, AffinityTable, prefix_key


def test_entries_expire_and_the_table_is_bounded() -> None:
    t = AffinityTable(ttl_s=10, max_entries=2)
    t.remember(1, "a", now=0)
    assert t.get(1, now=5) == "a" and t.get(1, now=11) is None
    t.remember(2, "b", now=0)
    t.remember(3, "c", now=0)  # the oldest goes
    assert len(t) == 2 and t.get(1, now=1) is None and t.get(3, now=1) == "c"
    assert t.get(None, now=0) is None


def test_new_or_moved_or_aging_keys_are_published_not_every_hit() -> None:
    t = AffinityTable(ttl_s=100)
    t.remember(1, "a", now=0)
    assert t.take_outbox() == {1: "a"}
    t.remember(1, "a", now=10)  # a hit soon after: nothing new to tell
    assert t.take_outbox() == {}
    t.remember(1, "b", now=11)  # moved to another replica
    assert t.take_outbox() == {1: "b"}
    t.remember(1, "b", now=50)  # aged past a quarter of its TTL: refreshed for the others
    assert t.take_outbox() == {1: "b"}


def test_learned_entries_are_used_but_not_published_again() -> None:
    t = AffinityTable(ttl_s=100)
    t.learn([(7, "http://r1/v1")], now=0)
    assert t.get(7, now=1) == "http://r1/v1"
    assert t.take_outbox() == {}


def test_prefix_is_the_leading_text_of_the_messages_and_short_prompts_have_none() -> None:
    system = "s" * 800
    body = {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": [{"type": "text", "text": "u" * 600}, {"type": "image"}]},
        ]
    }
    text, total = prompt_of(Operation.CHAT, body).leading(PREFIX_CHARS)
    assert total == 1400 and text == system + "u" * (PREFIX_CHARS - 800)
    assert prefix_key(text) is not None
    assert prefix_key("short") is None
    assert prompt_of(Operation.CHAT, {"messages": "nonsense"}).leading(PREFIX_CHARS) == ("", 0)
