"""LedgerWriter: the Ledger the request path submits to; batches rows into a Sink in the background.

submit() is a put_nowait into a bounded queue; a full queue spills to the spool, never blocks.
A database that cannot take rows sends batches to the spool too, replayed once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.ledger.record import SpendRecord
from gateway.ledger.sink import DatabaseUnavailable, Sink
from gateway.ledger.spool import Spool

log = logging.getLogger("gateway.ledger")


@dataclass(slots=True)
class WriterStats:
    inserted: int = 0  # rows the database took
    duplicates: int = 0  # rows it already had (replays)
    spooled: int = 0  # rows written to the spool (database unavailable or queue full)
    overflowed: int = 0  # of which: the queue was full
    replayed: int = 0  # spooled rows read back and sent to the database
    rejected: int = 0  # rows the database refused: kept in <spool>/rejected/
    lost: int = 0  # rows that could not even be spooled (disk error): logged one by one


class LedgerWriter:
    def __init__(
        self,
        sink: Sink,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        queue_max: int = 50_000,
        retry_s: float = 1.0,
        close_replay_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = WriterStats()
        self._sink = sink
        self._spool = Spool(spool_dir)
        self._rejected = Spool(spool_dir / "rejected")
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._queue: asyncio.Queue[SpendRecord] = asyncio.Queue(queue_max)
        self._wake = asyncio.Event()
        self._retry_s = retry_s
        self._close_replay_s = close_replay_s
        self._clock = clock
        self._down_until = 0.0  # while the clock is before this, batches go straight to the spool
        self._down = False
        self._closing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def submit(self, record: SpendRecord) -> None:
        if self._closed:
            self._spill([record])
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.stats.overflowed += 1
            self._spill([record])
            return
        if self._queue.qsize() >= self._batch_size:
            self._wake.set()

    def backlog(self) -> tuple[int, int, bool]:
        """(rows queued, rows this process spooled and no one replayed yet, database up)."""
        spooled = max(self.stats.spooled - self.stats.replayed, 0)
        return self._queue.qsize(), spooled, not self._down

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    async def close(self) -> None:
        """Drain the queue into the database (or the spool), replay what it can, then stop."""
        self._closing = True
        # One more try now rather than after the retry pause: a database back since the last
        # failure gets the queue and the spool before we exit (still down: they stay spooled).
        self._down_until = min(self._down_until, self._clock())
        self._wake.set()
        if self._task is not None:
            await self._task
        self._closed = True  # from here on submit() goes straight to the spool
        leftover = self._take(self._queue.qsize())  # submitted while the task was finishing
        if leftover:
            await self._write(leftover)
        self._spool.seal()
        await self._sink.close()

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if batch:
                await self._write(batch)
            elif self._closing:
                break
            elif self._up() and self._spool.pending():
                await self._replay()
        if self._up() and self._spool.pending():
            deadline = self._clock() + self._close_replay_s
            await self._replay(deadline)

    async def _collect(self) -> list[SpendRecord]:
        if self._queue.qsize() < self._batch_size and not self._closing:
            # Wakes early when a full batch is waiting; otherwise flushes what is there.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
        self._wake.clear()
        return self._take(self._batch_size)

    def _take(self, limit: int) -> list[SpendRecord]:
        batch: list[SpendRecord] = []
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    def _up(self) -> bool:
        return self._clock() >= self._down_until

    async def _write(self, batch: list[SpendRecord]) -> None:
        if not self._up():
            self._spill(batch)
            return
        try:
            await self._insert(batch)
        except DatabaseUnavailable as exc:
            self._mark_down(exc)
            self._spill(batch)

    async def _insert(self, batch: Sequence[SpendRecord]) -> None:
        """Insert a batch; rows the database refuses are set aside. Raises DatabaseUnavailable."""
        try:
            inserted = await self._sink.insert(batch)
        except DatabaseUnavailable:
            raise
        except Exception:
            # Not an outage: some row was refused. It must neither stop the writer nor take
            # the good rows down with it, so retry one by one and keep the bad ones on disk.
            if len(batch) == 1:
                log.exception("ledger: row %s refused, kept in rejected/", batch[0].request_id)
                self.stats.rejected += 1
                self._spill(batch, self._rejected)
                self._rejected.seal()
                return
            for record in batch:
                await self._insert([record])
            return
        if self._down:
            self._down = False
            log.warning("ledger database is back: replaying the spool")
        self.stats.inserted += inserted
        self.stats.duplicates += len(batch) - inserted

    def _mark_down(self, exc: DatabaseUnavailable) -> None:
        if not self._down:
            log.warning(
                "ledger database unavailable (%s): spooling rows to %s until it is back",
                exc,
                self._spool.directory,
            )
        self._down = True
        self._down_until = self._clock() + self._retry_s

    async def _replay(self, deadline: float | None = None) -> None:
        for claimed in self._spool.claim():
            try:
                for batch in claimed.batches(self._batch_size):
                    await self._insert(batch)
                    self.stats.replayed += len(batch)
                    if deadline is not None and self._clock() > deadline:
                        claimed.release()  # the rest waits for the next start; replays are safe
                        return
                    # A long replay must not starve live rows: interleave full batches.
                    while self._queue.qsize() >= self._batch_size:
                        await self._write(self._take(self._batch_size))
            except DatabaseUnavailable as exc:
                claimed.release()
                self._mark_down(exc)
                return
            claimed.done()

    def _spill(self, batch: Sequence[SpendRecord], spool: Spool | None = None) -> None:
        try:
            (spool or self._spool).append(batch)
        except OSError as exc:
            self.stats.lost += len(batch)
            for record in batch:
                log.error("ledger: row %s lost, spool not writable: %s", record.request_id, exc)
            return
        if spool is None:
            self.stats.spooled += len(batch)
