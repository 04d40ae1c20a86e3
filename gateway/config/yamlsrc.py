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

# Bounds against hostile or runaway files. A real config is a few KiB, under 10 levels deep
# and a few thousand values; past these the parser, the indexer and pydantic recurse or
# expand aliases without end (RecursionError, or GBs and minutes for a "billion laughs").
MAX_BYTES = 5 * 2**20
MAX_DEPTH = 64
MAX_VALUES = 100_000


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
    raw: bytes = b""  # the bytes parsed, so the config version hashes what was loaded

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
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more, whatever the file (or a FIFO) holds
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read file: {exc}")]) from None
    if len(raw) > MAX_BYTES:
        message = f"file is larger than {MAX_BYTES // 2**20} MiB"
        raise ConfigError([Problem(str(path), 0, "", message, "a config is a few KiB")])
    doc = parse_yaml(text, path)
    doc.raw = raw
    return doc


def parse_yaml(text: str, path: Path) -> Document:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError([Problem(str(path), line, "", str(exc.problem), exc.hint)]) from None
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


class _Refused(yaml.MarkedYAMLError):
    """A file past one of the bounds above; reported as-is, not as "invalid YAML"."""

    def __init__(self, message: str, mark: Any, hint: str) -> None:
        super().__init__(None, None, message, mark)
        self.hint = hint


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts while it composes, so that nothing after it walks a huge tree.

    An alias counts as the whole node it names (its values and its depth), which is what the
    constructor, the line indexer and pydantic will each walk once it is expanded.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0  # collections open around the node being composed
        self._deepest = 0  # deepest level reached inside the node being composed
        self._values = 0  # nodes so far, aliases expanded
        self._sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels)
        self._aliased = False  # whether an alias was expanded (to word the error)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        base = self._depth
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in self._sizes:
                values, levels = self._sizes[anchor]
                self._grow(values, base + levels, event.start_mark, alias=True)
            elif anchor in self.anchors:  # still being composed: the tree would be infinite
                hint = "an alias cannot repeat a node that contains it"
                raise _Refused(f"alias *{anchor} inside the node it names", event.start_mark, hint)
            return super().compose_node(parent, index)  # also refuses undefined aliases
        collection = isinstance(event, yaml.CollectionStartEvent)
        outer, self._deepest = self._deepest, base
        before = self._values
        self._grow(1, base + collection, event.start_mark, alias=False)  # before recursing
        self._depth += collection
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= collection
        if event.anchor is not None:
            self._sizes[event.anchor] = (self._values - before, self._deepest - base)
        self._deepest = max(outer, self._deepest)
        return node

    def _grow(self, values: int, level: int, mark: Any, *, alias: bool) -> None:
        self._values += values
        self._deepest = max(self._deepest, level)
        self._aliased |= alias
        if level > MAX_DEPTH:
            hint = (
                "an alias counts as the levels it repeats" if alias else "a config needs under 10"
            )
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", mark, hint)
        if self._values > MAX_VALUES:
            what = "aliases expand to" if self._aliased else "the file holds"
            hint = (
                "an alias counts as every value it repeats"
                if self._aliased
                else "a config holds far fewer"
            )
            raise _Refused(f"{what} more than {MAX_VALUES} values", mark, hint)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # int("abc"), a 13th month, an int of 5,000 digits: Python's errors, given a line here.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            message = f"cannot read value: {exc}"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None


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
