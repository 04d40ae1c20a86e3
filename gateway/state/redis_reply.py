"""Reading Redis replies whichever way the client was built (decoded or not)."""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """A Redis reply field as str (clients may decode or not)."""
    return value.decode() if isinstance(value, bytes) else str(value)
