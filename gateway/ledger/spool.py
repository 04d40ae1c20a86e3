"""The spool: append-only JSON-lines files on disk for rows the database could not take yet.

Every file is held under an exclusive flock by the process using it (appending or replaying), so
several workers can share one directory: a file nobody holds is left over (its writer sealed it,
or died) and whoever locks it first replays it, then deletes it. A new file is locked under a
name replay ignores and only then renamed to *.jsonl, so no replayer can take it in between.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from gateway.ledger.codec import dumps, loads
from gateway.ledger.record import SpendRecord

log = logging.getLogger("gateway.ledger")


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._rows = 0  # rows in the active file

    def append(self, records: Iterable[SpendRecord]) -> int:
        """Write rows to this process's active file (flushed to the OS: a crash keeps them)."""
        data = [dumps(r) for r in records]
        if not data:
            return 0
        file = self._file or self._open()
        file.write(b"".join(data))
        file.flush()
        self._rows += len(data)
        return len(data)

    def _open(self) -> BinaryIO:
        self.directory.mkdir(parents=True, exist_ok=True)
        # The pid says which worker wrote it; the uuid keeps names unique across restarts.
        name = f"{os.getpid()}-{uuid.uuid4().hex}"
        hidden, path = self.directory / f"{name}.new", self.directory / f"{name}.jsonl"
        file = open(hidden, "ab")  # noqa: SIM115 - held open across calls
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            hidden.rename(path)  # visible to replay only once locked (the lock follows the inode)
        except OSError:
            file.close()
            hidden.unlink(missing_ok=True)
            raise
        self._file, self._path = file, path
        return file

    def seal(self) -> None:
        """Make the active file durable and hand it over to replay (by releasing its lock)."""
        if self._file is None:
            return
        os.fsync(self._file.fileno())
        self._file.close()
        self._file, self._path, self._rows = None, None, 0

    def pending(self) -> bool:
        """Is anything on disk waiting for replay (ours or left by another process)?"""
        if self._rows:
            return True
        try:
            with os.scandir(self.directory) as entries:
                return any(e.name.endswith(".jsonl") and e.path != str(self._path) for e in entries)
        except FileNotFoundError:
            return False

    def claim(self) -> Iterator[Claimed]:
        """Seal our own file, then yield every spool file that nobody else holds, locked."""
        self.seal()
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.jsonl")):
            claimed = Claimed.take(path)
            if claimed is not None:
                yield claimed


class Claimed:
    """One spool file under our lock: read it in batches, then delete it (or let it go)."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self._file = file

    @classmethod
    def take(cls, path: Path) -> Claimed | None:
        try:
            file = open(path, "rb")  # noqa: SIM115 - the lock lives as long as the claim
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A replayer may have deleted it between our open and our lock: then it is done.
            if os.stat(path).st_ino != os.fstat(file.fileno()).st_ino:
                raise FileNotFoundError(path)
        except (BlockingIOError, FileNotFoundError):
            file.close()
            return None
        return cls(path, file)

    def batches(self, size: int) -> Iterator[list[SpendRecord]]:
        batch: list[SpendRecord] = []
        for number, line in enumerate(self._file, 1):
            if not line.endswith(b"\n"):
                # A torn last line: the writer died mid-write, before the row was acknowledged.
                log.error("spool %s: incomplete line %d skipped", self.path.name, number)
                break
            try:
                batch.append(loads(line))
            except (ValueError, TypeError, KeyError):
                log.error("spool %s: unreadable line %d skipped", self.path.name, number)
                continue
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def done(self) -> None:
        self.path.unlink(missing_ok=True)
        self._file.close()

    def release(self) -> None:
        self._file.close()
