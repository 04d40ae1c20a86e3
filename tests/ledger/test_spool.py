"""The spool: rows survive on disk; a file held by a live process is never taken from it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger.spool import Claimed, Spool
from tests.ledger.factories import record


def test_rows_round_trip_and_a_claimed_file_is_deleted_when_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([record(n) for n in range(5)])
    assert spool.pending()
    claims = list(spool.claim())
    assert len(claims) == 1
    assert [len(b) for b in claims[0].batches(2)] == [2, 2, 1]
    claims[0].done()
    assert not spool.pending()


def test_another_process_active_file_is_left_alone(tmp_path: Path) -> None:
    writer, replayer = Spool(tmp_path), Spool(tmp_path)
    writer.append([record(1)])  # held under the writer's lock while it appends
    assert replayer.pending()
    assert list(replayer.claim()) == []
    writer.seal()  # released (as when its process exits): now anyone may replay it
    claims = list(replayer.claim())
    assert [r.request_id for c in claims for b in c.batches(10) for r in b] == ["req-1"]
    assert Claimed.take(claims[0].path) is None  # one replayer at a time
    claims[0].release()


def test_a_torn_last_line_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([record(1), record(2)])
    spool.seal()
    path = next(tmp_path.glob("*.jsonl"))
    path.write_bytes(path.read_bytes() + b'{"created_at": "20')  # the writer died mid-line
    (claim,) = Spool(tmp_path).claim()
    assert [r.request_id for b in claim.batches(10) for r in b] == ["req-1", "req-2"]
    claim.done()


def test_a_new_file_cannot_be_claimed_before_its_writer_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers share the directory: a replayer looking while a sibling creates its file (between
    the create and the lock) must not take it, replay it empty and delete it under the writer."""
    writer, replayer = Spool(tmp_path), Spool(tmp_path)
    taken: list[Claimed] = []
    real_flock = fcntl.flock

    def flock_after_a_sibling_looked(file: Any, operation: int) -> None:
        if not taken and file is not None:
            monkeypatch.setattr(fcntl, "flock", real_flock)
            taken.extend(replayer.claim())  # the sibling's replay runs at the worst moment
        real_flock(file, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_sibling_looked)
    writer.append([record(1)])
    writer.append([record(2)])
    assert taken == []
    writer.seal()
    (claim,) = replayer.claim()
    assert [r.request_id for b in claim.batches(10) for r in b] == ["req-1", "req-2"]
    assert claim.path.name.startswith(f"{os.getpid()}-")  # which worker wrote it
    claim.done()
    assert list(tmp_path.iterdir()) == []
