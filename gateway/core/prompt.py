"""What the prompt is, for every operation: its texts (for token counts and prefix affinity),
images and framing units, read in one walk of the body.

`read_prompt` checks the shape as the API does, naming the bad field; `prompt_of` reads any
body leniently (skipping what it does not understand), for bodies the gateway built itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.operation import Operation

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGES_ROLES = frozenset({"user", "assistant"})
_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})


class PromptError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class Prompt:
    texts: list[str] = field(default_factory=list)  # what the model reads, in order
    messages: int = 0  # framing units (messages, input items): a few tokens each
    images: int = 0
    token_ids: int = 0  # input sent already tokenized (embeddings, completions)

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.texts)

    def leading(self, limit: int) -> tuple[str, int]:
        """The first `limit` characters of the prompt, and its whole length."""
        parts: list[str] = []
        total = 0
        for text in self.texts:
            if total < limit:
                parts.append(text[: limit - total])
            total += len(text)
        return "".join(parts), total


def read_prompt(op: Operation, body: Mapping[str, Any]) -> Prompt:
    """The prompt of a client's body; PromptError names the first field of the wrong shape."""
    return _Walk(strict=True).run(op, body)


def prompt_of(op: Operation, body: Mapping[str, Any]) -> Prompt:
    """The prompt of any body, skipping what is not understood (never raises)."""
    return _Walk(strict=False).run(op, body)


class _Walk:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.out = Prompt()

    def bad(self, message: str, param: str) -> None:
        if self.strict:
            raise PromptError(message, param)

    def run(self, op: Operation, body: Mapping[str, Any]) -> Prompt:
        if op is Operation.CHAT:
            self.chat(body.get("messages"))
        elif op in (Operation.MESSAGES, Operation.COUNT_TOKENS):
            self.messages(body)
        elif op is Operation.RESPONSES:
            self.responses(body)
        elif op is Operation.EMBEDDINGS:
            self.inputs(body.get("input"), "input")
        else:
            self.inputs(body.get("prompt"), "prompt")
        return self.out

    def chat(self, messages: object) -> None:
        roles = "one of " + ", ".join(sorted(CHAT_ROLES))
        self.turns(messages, CHAT_ROLES, roles, nullable=True)

    def messages(self, body: Mapping[str, Any]) -> None:
        system = body.get("system")
        if system is not None:
            self.content(system, "system", nullable=False)
        self.turns(body.get("messages"), MESSAGES_ROLES, "user or assistant", nullable=False)

    def turns(
        self, messages: object, roles: frozenset[str], roles_text: str, *, nullable: bool
    ) -> None:
        """A conversation: a non-empty array of {role, content}."""
        if not isinstance(messages, list) or not messages:
            return self.bad("'messages' must be a non-empty array.", "messages")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                self.bad(f"'messages[{i}]' must be an object.", f"messages[{i}]")
                continue
            if msg.get("role") not in roles:
                self.bad(f"'messages[{i}].role' must be {roles_text}.", f"messages[{i}].role")
            self.out.messages += 1
            content = msg.get("content")
            if type(content) is str:  # the usual case, without the call
                self.out.texts.append(content)
            else:
                self.content(content, f"messages[{i}].content", nullable=nullable)
        return None

    def responses(self, body: Mapping[str, Any]) -> None:
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            self.out.texts.append(instructions)
        items = body.get("input")
        if isinstance(items, str):
            self.out.messages += 1
            self.out.texts.append(items)
            return None
        if not isinstance(items, list):
            return self.bad("'input' must be a string or an array of items.", "input")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.bad(f"'input[{i}]' must be an object.", f"input[{i}]")
                continue
            self.out.messages += 1
            if "content" in item:
                self.content(item["content"], f"input[{i}].content", nullable=True)
            for key in ("output", "arguments"):  # tool results and calls read as text
                if isinstance(item.get(key), str):
                    self.out.texts.append(item[key])
        return None

    def content(self, content: object, param: str, *, nullable: bool) -> None:
        """A string, or an array of parts/blocks: text counted, images counted, the rest
        (tool blocks) read for the text they carry."""
        if isinstance(content, str):
            self.out.texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    self.part(part, param)
        elif content is not None or not nullable:
            self.bad(f"'{param}' must be a string or an array of parts.", param)

    def part(self, part: Mapping[str, Any], param: str) -> None:
        kind = part.get("type")
        for key in ("text", "thinking"):
            if isinstance(part.get(key), str):
                self.out.texts.append(part[key])
        if kind in _IMAGE_PARTS:
            self.out.images += 1
        elif kind == "tool_result":
            self.content(part.get("content"), param, nullable=True)

    def inputs(self, value: object, param: str) -> None:
        """Embeddings' input, completions' prompt: text, texts, token ids, or arrays of ids."""
        if isinstance(value, str):
            self.out.texts.append(value)
            self.out.messages += 1
            return None
        if not isinstance(value, list) or not value:
            return self.bad(f"'{param}' must be a string or a non-empty array.", param)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.out.token_ids += len(value)
            self.out.messages += 1
            return None
        for i, item in enumerate(value):
            if isinstance(item, str):
                self.out.texts.append(item)
            elif isinstance(item, list) and all(isinstance(v, int) for v in item):
                self.out.token_ids += len(item)
            else:
                self.bad(
                    f"'{param}[{i}]' must be a string or an array of token ids.", f"{param}[{i}]"
                )
                continue
            self.out.messages += 1
        return None
