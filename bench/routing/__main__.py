"""Routing quality under faults and quotas: `python -m bench.routing [SCENARIO ...]`.

Each scenario file (bench/routing/scenarios/*.yaml; all of them by default) is run through the
real gateway against simulated vendors, once per strategy (ours and four baselines, at the same
time on the same arrivals and fault switches), next to an oracle that knows the schedule.
Prints one markdown table per scenario; `--plot` writes cost against SLO attainment (needs the
`bench` extra: matplotlib), `--out` every figure as JSON. bench/routing/README.md has the reading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path

import uvloop

from bench.routing.report import Figures, table
from bench.routing.run import STRATEGIES, run_scenario
from bench.routing.scenario import load

HERE = Path(__file__).parent


async def main(paths: list[Path], strategies: list[str]) -> dict[str, dict[str, Figures]]:
    results = {}
    for path in paths:
        sc = load(path)
        started = time.monotonic()
        rows, cond = await run_scenario(sc, strategies)
        wall = time.monotonic() - started
        print(
            f"\n### {sc.name}: {sc.duration_s:g} s at {sc.rps:g} req/s per strategy"
            f" ({wall:.0f} s wall; event-loop lag p50 {_f(cond['loop_lag_p50_ms'])} /"
            f" p95 {_f(cond['loop_lag_p95_ms'])} ms, load average {_f(cond['load_avg_1m'], 1)})\n"
        )
        print(sc.description.strip() + "\n")
        print(table(rows), flush=True)
        results[sc.name] = {**rows, "_conditions": cond}
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help="scenario files or names (default: all)")
    parser.add_argument("--strategies", help="comma-separated subset of: " + ", ".join(STRATEGIES))
    parser.add_argument("--out", help="write every figure to this JSON file")
    parser.add_argument("--plot", help="write cost vs SLO attainment to this PNG")
    args = parser.parse_args()
    paths = [_path(s) for s in args.scenarios] or sorted((HERE / "scenarios").glob("*.yaml"))
    strategies = args.strategies.split(",") if args.strategies else list(STRATEGIES)
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies: {', '.join(sorted(unknown))}")
    # The baselines fail on purpose (cheapest+retries through an outage): no log per request.
    logging.disable(logging.ERROR)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(main(paths, strategies))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    if args.plot:
        from bench.routing.plot import plot  # matplotlib: the optional `bench` extra

        plot(results, Path(args.plot))


def _f(value: object, digits: int = 0) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else "—"


def _path(name: str) -> Path:
    p = Path(name)
    if p.exists():
        return p
    stem = name.removesuffix(".yaml")
    found = sorted((HERE / "scenarios").glob(f"*{stem}.yaml"))  # files are numbered: 1-name
    if not found:
        raise SystemExit(f"no scenario {name!r} in {HERE / 'scenarios'}")
    return found[0]


if __name__ == "__main__":
    cli()
