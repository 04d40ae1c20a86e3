"""Logging that never carries a secret: every record's message and arguments pass through the
same redaction as vendor replies (our keys by value, anything shaped like a bearer token, an
API key or a gw- key by pattern) before any handler formats them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from gateway.upstream.redact import redact

ACCESS_FIELDS = "access"  # the LogRecord attribute an access line's fields travel in


class RedactSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()

    def know(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(sorted({*self._secrets, *(s for s in secrets if s and len(s) >= 4)}))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message.encode("utf-8", "replace"), self._secrets).decode("utf-8", "replace")
        if clean != message or record.args:
            record.msg, record.args = clean, None  # formatted once, here, redacted
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text.encode(), self._secrets).decode("utf-8", "replace")
        return True


_FILTER = RedactSecrets()


def install(secrets: Iterable[str] = ()) -> RedactSecrets:
    """One filter, on every handler of the root logger (where uvicorn's records and ours end
    up), that also knows these secrets by value; calling it again only adds what it knows."""
    _FILTER.know(secrets)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and an access line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__.get(ACCESS_FIELDS)
        if fields:
            line.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


def configure(level: str, fmt: str = "auto") -> None:
    """The root handler on stderr: JSON lines (`json`, or `auto` when stderr is not a terminal)
    or a readable line (`text`, or `auto` on a terminal)."""
    handler = logging.StreamHandler()
    if fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
