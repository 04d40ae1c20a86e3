"""LedgerWriter against the real databases: batches, idempotent replays, spool, bounded memory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.writer import LedgerWriter
from tests.ledger.factories import NOW, is_postgres, record, rows

DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:9/test"  # nothing listens on port 9


def writer(url: str, spool: Path, **options: float) -> LedgerWriter:
    opts = {"batch_size": 50, "flush_interval_s": 0.05, **options}
    return LedgerWriter(build_sink(parse_database_url(url)), spool, **opts)  # type: ignore[arg-type]


async def test_every_submitted_row_lands_once_with_exact_values(
    ledger_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    w = writer(ledger_url, tmp_path / "spool")
    await w.start()
    for n in range(120):
        w.submit(record(n))
    w.submit(record(0))  # the same row again (a replay): skipped by ON CONFLICT
    await w.close()
    stored = await rows(engine)
    assert len(stored) == 120 == w.stats.inserted
    assert w.stats.duplicates == 1
    first = next(r for r in stored if r.request_id == "req-0")
    assert first.cost_usd == Decimal("0.0000123456")
    assert (first.prompt_tokens, first.completion_tokens, first.team) == (10, 5, "search")
    assert first.tags == {"env": "test"}
    assert first.created_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)


async def test_full_queue_spills_to_the_spool_and_close_replays_it(
    ledger_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    w = writer(ledger_url, tmp_path / "spool", queue_max=10)
    await w.start()
    for n in range(500):  # no await in between: the writer cannot drain, memory stays at 10 rows
        w.submit(record(n))
    assert w.stats.overflowed == 490
    await w.close()
    assert len(await rows(engine)) == 500
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # replayed, then deleted


async def test_rows_wait_in_the_spool_while_the_database_is_down(
    ledger_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    down = writer(
        DEAD_POSTGRES if is_postgres(ledger_url) else "sqlite:////nonexistent/x.db", spool
    )
    await down.start()
    for n in range(200):
        down.submit(record(n))
    await down.close()
    assert down.stats.spooled == 200 and down.stats.inserted == 0
    assert sum(len(p.read_bytes().splitlines()) for p in spool.glob("*.jsonl")) == 200

    up = writer(ledger_url, spool)  # the next start (any worker) replays what is on disk
    await up.start()
    up.submit(record(7))  # also already in the spool: must not be duplicated
    await up.close()
    stored = await rows(engine)
    assert len(stored) == 200 == len({r.request_id for r in stored})
    assert not list(spool.glob("*.jsonl"))


async def test_a_refused_row_is_set_aside_and_the_others_land(
    ledger_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    w = writer(ledger_url, tmp_path / "spool")
    await w.start()
    w.submit(record(1))
    w.submit(record(2, request_id=None))  # NOT NULL violated: refused on both databases
    w.submit(record(3))
    await w.close()
    assert [r.request_id for r in await rows(engine)] == ["req-1", "req-3"]
    assert w.stats.rejected == 1
    assert len(list((tmp_path / "spool" / "rejected").glob("*.jsonl"))) == 1
