"""What the prompt is, per operation: texts, framing units, images and token ids, and the
errors that name the field (strict) or the parts skipped (lenient)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.operation import Operation
from gateway.core.prompt import PromptError, prompt_of, read_prompt

CASES: list[tuple[Operation, dict[str, Any], list[str], int, int, int]] = [
    # operation, body, texts, messages, images, token ids
    (
        Operation.CHAT,
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:..."}},
                    ],
                },
                {"role": "assistant", "content": None, "tool_calls": []},
            ]
        },
        ["be brief", "what is this?"],
        3,
        1,
        0,
    ),
    (
        Operation.MESSAGES,
        {
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                        {"type": "image", "source": {"type": "base64", "data": "..."}},
                    ],
                },
            ],
        },
        ["sys", "hi", "hmm", "42"],
        3,
        1,
        0,
    ),
    (
        Operation.RESPONSES,
        {
            "instructions": "be kind",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
                {"type": "function_call_output", "call_id": "c", "output": "done"},
            ],
        },
        ["be kind", "hello", "done"],
        2,
        0,
        0,
    ),
    (Operation.RESPONSES, {"input": "just text"}, ["just text"], 1, 0, 0),
    (Operation.EMBEDDINGS, {"input": ["a", "bb", [1, 2, 3]]}, ["a", "bb"], 3, 0, 3),
    (Operation.EMBEDDINGS, {"input": [5, 6]}, [], 1, 0, 2),
    (Operation.COMPLETIONS, {"prompt": "once upon"}, ["once upon"], 1, 0, 0),
]


@pytest.mark.parametrize(("op", "body", "texts", "messages", "images", "ids"), CASES)
def test_each_operation_reads_its_prompt(
    op: Operation, body: dict[str, Any], texts: list[str], messages: int, images: int, ids: int
) -> None:
    for prompt in (read_prompt(op, body), prompt_of(op, body)):
        assert prompt.texts == texts
        assert (prompt.messages, prompt.images, prompt.token_ids) == (messages, images, ids)
        assert prompt.chars == sum(len(t) for t in texts)


@pytest.mark.parametrize(
    ("op", "body", "param"),
    [
        (Operation.CHAT, {"messages": []}, "messages"),
        (Operation.CHAT, {"messages": ["x"]}, "messages[0]"),
        (Operation.CHAT, {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (Operation.CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            Operation.MESSAGES,
            {"messages": [{"role": "system", "content": "x"}]},
            "messages[0].role",
        ),
        (Operation.MESSAGES, {"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            Operation.MESSAGES,
            {"system": 3, "messages": [{"role": "user", "content": "x"}]},
            "system",
        ),
        (Operation.RESPONSES, {"input": 3}, "input"),
        (Operation.RESPONSES, {"input": ["x"]}, "input[0]"),
        (Operation.EMBEDDINGS, {"input": []}, "input"),
        (Operation.EMBEDDINGS, {"input": ["ok", {"no": 1}]}, "input[1]"),
        (Operation.COMPLETIONS, {"prompt": None}, "prompt"),
    ],
)
def test_a_bad_shape_names_its_field_and_lenient_reading_skips_it(
    op: Operation, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(PromptError) as caught:
        read_prompt(op, body)
    assert caught.value.param == param
    prompt_of(op, body)  # never raises


def test_leading_text_is_the_first_characters_across_parts() -> None:
    prompt = prompt_of(Operation.CHAT, {"messages": [{"role": "user", "content": "abc"}] * 3})
    assert prompt.leading(5) == ("abcab", 9)
