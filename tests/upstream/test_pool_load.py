"""A replica's load between scrapes: the scrape, corrected by what every gateway sent since."""

from __future__ import annotations

import time

from gateway.config.runtime import PoolReplica
from gateway.core.pool_sharing import PeerLoad
from gateway.upstream.pool_metrics import ReplicaLoad
from gateway.upstream.replica import outstanding
from tests.factories import pool_upstream

REPLICA = PoolReplica("http://r0.test/v1", "http://r0.test/metrics")


async def test_the_other_gateways_requests_count_once_whether_or_not_the_scrape_saw_them() -> None:
    pool = pool_upstream(replicas=(REPLICA,), engine="vllm", max_batch=4)
    r = pool.replicas[0]
    now = time.monotonic()
    pool.record_scrape(r, ReplicaLoad(running=1, waiting=0, kv_usage=0.1, at=now))
    scraped = r.scraped_at
    # Another gateway has two in flight: one sent before the scrape (it is the running one),
    # one sent after it (the scrape cannot know it).
    pool.set_peer_load({REPLICA.url: PeerLoad(2, 300, [scraped - 0.1, scraped + 0.05])})
    state = pool.states(now)[0]
    assert outstanding(state, pool.capacity, now) == 2
    assert state.in_flight == 2  # the safety limit counts every gateway's requests
    assert state.fresh_prefill_tokens == 300
    await pool.aclose()
