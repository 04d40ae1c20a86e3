"""Deterministic simulated text."""

from __future__ import annotations

from gateway.sim import text


def test_lexicon_is_a_power_of_two_of_distinct_words() -> None:
    assert len(text.LEXICON) == 64
    assert len(set(text.LEXICON)) == 64


def test_same_prompt_same_tokens() -> None:
    assert text.tokens("hello world", 50) == text.tokens("hello world", 50)
    assert text.completion_text("hello world", 50) == "".join(text.tokens("hello world", 50))


def test_tokens_are_one_word_and_a_space() -> None:
    for tok in text.tokens("anything", 100):
        assert tok.endswith(" ")
        assert tok[:-1] in text.LEXICON


def test_a_longer_answer_extends_a_shorter_one() -> None:
    assert text.tokens("p", 30)[:10] == text.tokens("p", 10)


def test_different_prompts_give_different_answers() -> None:
    assert text.tokens("first prompt", 20) != text.tokens("second prompt", 20)


def test_a_known_answer_is_stable_across_runs() -> None:
    # crc32 is specified, so this value must never change between runs or machines.
    assert text.completion_text("hello", 3) == "river request paper "
