"""Turn the measurements into the markdown table, the ratios and the profile summary."""

from __future__ import annotations

import pstats
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

Metrics = dict[str, float]
DIRECT = "direct"
BASELINE = "passthrough-aiohttp"

COLUMNS = (
    "| target | added p50 c=1 | p50 / p99 c=1 | p50 / p99 c=32 | req/s c=32 "
    "| CPU ms/req | added TTFB p50 | TTFB p50 / p99 | RSS MB | proxy core | client core |"
)


def median_metrics(rounds: Sequence[Metrics]) -> Metrics:
    """Metric by metric, the median over the rounds."""
    keys = rounds[0].keys()
    return {k: statistics.median(r[k] for r in rounds) for k in keys}


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _added(value: float) -> str:
    return f"{value * 1000:+.0f} µs"


def table(results: Mapping[str, Metrics]) -> str:
    """One row per target; 'added' is the target's median minus the direct median."""
    base = results[DIRECT]
    lines = [COLUMNS, "|" + "---|" * (COLUMNS.count("|") - 1)]
    for name, m in results.items():
        direct = name == DIRECT
        cells = [
            f"**{name}**" if name.startswith("gateway") else name,
            "—" if direct else _added(m["c1_p50_ms"] - base["c1_p50_ms"]),
            f"{_ms(m['c1_p50_ms'])} / {_ms(m['c1_p99_ms'])}",
            f"{_ms(m['c32_p50_ms'])} / {_ms(m['c32_p99_ms'])}",
            f"{m['rps']:.0f}",
            f"{m['cpu_ms_per_req']:.3f}" + (" (sim)" if direct else ""),
            "—" if direct else _added(m["ttfb_p50_ms"] - base["ttfb_p50_ms"]),
            f"{_ms(m['ttfb_p50_ms'])} / {_ms(m['ttfb_p99_ms'])}",
            f"{m['rss_mb']:.0f}" + (" (sim)" if direct else ""),
            "—" if direct else f"{m['proxy_core_pct']:.0f}%",
            f"{m['client_core_pct']:.0f}%",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(results: Mapping[str, Metrics]) -> str:
    """The aims of the issue, as ratios against the aiohttp pass-through."""
    if BASELINE not in results:
        return ""
    base = results[BASELINE]
    out = []
    for name, m in results.items():
        if name in (DIRECT, BASELINE):
            continue
        cpu = m["cpu_ms_per_req"] / base["cpu_ms_per_req"]
        rps = m["rps"] / base["rps"]
        added = (m["c1_p50_ms"] - results[DIRECT]["c1_p50_ms"]) * 1000
        out.append(
            f"- {name}: CPU/request {cpu:.2f}x the aiohttp pass-through "
            f"({1000 / m['cpu_ms_per_req']:.0f} req/s per core of CPU), "
            f"throughput {rps:.2f}x, added p50 at c=1 {added:.0f} µs"
        )
    return "\n".join(out)


# -- profile ---------------------------------------------------------------------------------


def _component(filename: str) -> str:
    if filename == "~" or filename.startswith("<"):
        return "(C functions and builtins)"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for marker in ("/gateway/", "/bench/"):
        if marker in filename:
            rest = filename.rsplit(marker, 1)[1]
            head = rest.split("/", 1)[0] if "/" in rest else rest.removesuffix(".py")
            return f"{marker.strip('/')}.{head}"
    if "/lib/python3" in filename:
        rest = filename.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib " + rest.split("/", 1)[0].removesuffix(".py")
    return filename


def _where(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    short = filename.split("site-packages/", 1)[-1]
    for marker in ("/work/main/", "/lib/python3.11/"):
        short = short.split(marker, 1)[-1]
    return f"{short}:{line}({func})"


def profile_summary(path: Path, requests: int, top: int = 15) -> str:
    """Self time by component, the top functions by self time, gateway code by cumulative time."""
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    per_req = 1e6 / requests
    by_component: defaultdict[str, float] = defaultdict(float)
    for key, (_, _, tottime, _, _) in raw.items():
        by_component[_component(key[0])] += tottime
    lines = [
        f"profiled: {requests} non-stream requests, {total:.2f} s of CPU in Python's view "
        f"({total * per_req:.0f} µs/request under cProfile, which inflates it)",
        "",
        "Self time by component:",
        "",
        "| component | share | µs/request |",
        "|---|---|---|",
    ]
    for name, secs in sorted(by_component.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {name} | {secs / total:.1%} | {secs * per_req:.1f} |")
    lines += [
        "",
        "Top functions by self time:",
        "",
        "| function | self | self µs/req | calls/req |",
        "|---|---|---|---|",
    ]
    for key, (_, ncalls, tottime, _, _) in sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]:
        calls = ncalls / requests
        lines.append(
            f"| `{_where(key)}` | {tottime / total:.1%} | {tottime * per_req:.1f} | {calls:.1f} |"
        )
    lines += [
        "",
        "Gateway functions by cumulative time (a coroutine counts once per resumption):",
        "",
        "| function | cumulative | cum µs/req | calls/req |",
        "|---|---|---|---|",
    ]
    ours = [(k, v) for k, v in raw.items() if "/gateway/" in k[0]]
    for key, (_, ncalls, _, cumtime, _) in sorted(ours, key=lambda kv: -kv[1][3])[:top]:
        lines.append(
            f"| `{_where(key)}` | {cumtime / total:.1%} | {cumtime * per_req:.1f} "
            f"| {ncalls / requests:.1f} |"
        )
    return "\n".join(lines)
