"""YAML with positions: load a file, remember each key's line, report problems as file:line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(Exception):
    """One or more problems in the configuration files; str() lists each as file:line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(slots=True)
class Document:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """Line of the deepest part of `loc` that exists in the file (1-based)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return 1

    def problem(self, loc: Sequence[str | int], message: str, hint: str = "") -> Problem:
        dotted = ".".join(str(p) for p in loc)
        return Problem(str(self.path), self.line_of(loc), dotted, message, hint)


def load_yaml(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read file: {exc}")]) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(str(path), line, "", f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), 1, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    doc = Document(path, data)
    problems: list[Problem] = []
    if node is not None:
        _index(node, (), doc, problems)
    if problems:
        raise ConfigError(problems)
    return doc


def _index(node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem]) -> None:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*loc, key)
            if key in seen:
                line = key_node.start_mark.line + 1
                problems.append(
                    Problem(str(doc.path), line, ".".join(map(str, child)), "duplicate key")
                )
            seen.add(key)
            doc.lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), doc, problems)


def validate(model: type[M], doc: Document, prefix: Loc = ()) -> M:
    """Validate `doc.data` against `model`; every pydantic error becomes a file:line Problem."""
    try:
        return model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise ConfigError([_to_problem(err, doc, prefix) for err in exc.errors()]) from None


def _to_problem(err: Any, doc: Document, prefix: Loc) -> Problem:
    loc: Loc = (*prefix, *(p for p in err["loc"] if not _is_union_tag(p)))
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif err["type"] == "greater_than_equal":
        message = f"must be >= {err['ctx']['ge']}"
    elif err["type"] == "greater_than":
        message = f"must be > {err['ctx']['gt']}"
    elif message.startswith("Input should be"):
        message = message.replace("Input should be", "must be", 1)
    return doc.problem(loc, message)


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts union member names into error locs ("int", "function-after[...]").
    return isinstance(part, str) and (
        "[" in part or part in ("int", "float", "str", "list", "dict")
    )
