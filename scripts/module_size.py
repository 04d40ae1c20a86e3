"""`make lint`: fail when a module under gateway/ passes the design's size (one job each)."""

from __future__ import annotations

import sys
from pathlib import Path

MAX_LINES = 400


def oversized(root: Path, limit: int = MAX_LINES) -> list[tuple[Path, int]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append((path, lines))
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "gateway")
    found = oversized(root)
    for path, lines in found:
        print(f"{path}: {lines} lines, over {MAX_LINES}: split it by job", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
