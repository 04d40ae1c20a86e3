"""Steady traffic through a gateway, for the compose stack's `sim` profile (and by hand).

Creates three teams with budgets and a key for each over the admin API (the master key from
GATEWAY_MASTER_KEY), then sends chat requests at --rps, half of them streamed, over the routes
of deploy/sim/policies. With --outage-url it takes that simulated vendor down for
--outage-s every --outage-every-s (POST /_sim/control), so failovers and circuits show.
Only httpx: it runs in the gateway's image without the gateway's code.

    python scripts/loadgen.py --url http://127.0.0.1:8080 --rps 4 [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# name -> (USD a day, USD a month). At 4 req/s on deploy/sim's prices a team spends ~0.3 USD an
# hour: ads runs out of its day in under 2 hours (429 insufficient_quota from then on), and the
# monthly burn moves by a few percent an hour, so the spend dashboard has something to show.
TEAMS: dict[str, tuple[float | None, float | None]] = {
    "search": (1.0, 20.0),
    "ads": (0.5, 5.0),
    "research": (None, None),
}
ROUTES = ("chat", "chat", "batch", "realtime", "small")
HEALTHY_ERROR_RATE = 0.01  # the outage vendor's error rate outside outages (deploy/sim/sim.yaml)


@dataclass
class Tally:
    by_status: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.by_status.values()) + sum(self.errors.values())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's root URL")
    parser.add_argument("--rps", type=float, default=4.0, help="requests started per second")
    parser.add_argument("--requests", type=int, default=0, help="stop after N (0: never)")
    parser.add_argument("--outage-url", help="a simulated vendor's root URL to take down")
    parser.add_argument("--outage-every-s", type=float, default=300.0)
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=Path, help="file touched after every answer")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.rps <= 0:
        parser.error("--rps must be positive")
    return args


async def team_keys(http: httpx.AsyncClient, master: str) -> dict[str, str]:
    """A new key per team (teams created with their budgets unless they exist)."""
    admin = {"Authorization": f"Bearer {master}"}
    keys: dict[str, str] = {}
    for team, (day, month) in TEAMS.items():
        body = {"name": team, "budget_usd_day": day, "budget_usd_month": month}
        made = await http.post("/admin/teams", json=body, headers=admin)
        if made.status_code not in (201, 409):  # 409: it exists (kept as the operator left it)
            made.raise_for_status()
        key = await http.post("/admin/keys", json={"team": team, "name": "loadgen"}, headers=admin)
        key.raise_for_status()
        keys[team] = key.json()["key"]
    return keys


async def one_request(
    http: httpx.AsyncClient, key: str, rng: random.Random, n: int, tally: Tally
) -> int | None:
    stream = rng.random() < 0.5
    body = {
        "model": rng.choice(ROUTES),
        "messages": [{"role": "user", "content": f"Request {n}: summarise the plan."}],
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    }
    try:
        async with http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as resp:
            await resp.aread()
    except httpx.HTTPError as exc:
        tally.errors[type(exc).__name__] += 1
        return None
    tally.by_status[resp.status_code] += 1
    return resp.status_code


async def outages(url: str, every_s: float, down_s: float) -> None:
    """Take the vendor down for down_s every every_s, forever (cancelled with the run)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as sim:
        while True:
            await asyncio.sleep(every_s)
            await _control(sim, 1.0)
            await asyncio.sleep(down_s)
            await _control(sim, HEALTHY_ERROR_RATE)


async def _control(sim: httpx.AsyncClient, error_rate: float) -> None:
    try:
        await sim.post("/_sim/control", json={"error_rate": error_rate})
    except httpx.HTTPError as exc:  # the simulator restarting: the next round tries again
        print(f"loadgen: simulator control failed: {exc!r}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, master: str) -> Tally:
    rng = random.Random(args.seed)
    tally = Tally()
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=args.url, timeout=60, limits=limits) as http:
        keys = list((await team_keys(http, master)).values())
        chaos = (
            asyncio.create_task(outages(args.outage_url, args.outage_every_s, args.outage_s))
            if args.outage_url
            else None
        )
        pending: set[asyncio.Task[int | None]] = set()
        n, started = 0, time.monotonic()
        try:
            while not args.requests or n < args.requests:
                task = asyncio.create_task(one_request(http, rng.choice(keys), rng, n, tally))
                task.add_done_callback(lambda t: _beat(t, args.heartbeat))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
                await asyncio.sleep(max(0.0, started + n / args.rps - time.monotonic()))
            if pending:
                await asyncio.wait(pending)
        finally:
            if chaos is not None:
                chaos.cancel()
    return tally


def _beat(task: asyncio.Task[int | None], heartbeat: Path | None) -> None:
    if heartbeat is None or task.cancelled() or task.exception() is not None:
        return
    if task.result() == 200:
        heartbeat.touch()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    master = os.environ.get("GATEWAY_MASTER_KEY")
    if not master:
        print("loadgen: set GATEWAY_MASTER_KEY (teams and keys are made with it)", file=sys.stderr)
        return 2
    tally = asyncio.run(run(args, master))
    statuses, errors = dict(tally.by_status), dict(tally.errors)
    print(f"loadgen: {tally.sent} sent, by status {statuses}, errors {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
