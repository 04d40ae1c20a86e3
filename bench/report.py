"""Turn the measurements into the markdown table, the ratios against the aiohttp baseline, and
the Messages targets against the gateway's chat."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

Metrics = dict[str, float]
DIRECT = "direct"
BASELINE = "passthrough-aiohttp"
CHAT_BAR = 1.2  # the Messages targets' aim: CPU/request within 1.2x of the gateway's chat


def _direct(name: str) -> str:
    return DIRECT


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


def table(results: Mapping[str, Metrics], direct_of: Callable[[str], str] = _direct) -> str:
    """One row per target; 'added' is the target's median minus that of its simulator called
    directly (`direct_of(target)`; a simulator's row is its own direct)."""
    lines = [COLUMNS, "|" + "---|" * (COLUMNS.count("|") - 1)]
    for name, m in results.items():
        direct = direct_of(name) == name
        base = results[direct_of(name)]
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


def ratios(results: Mapping[str, Metrics], direct_of: Callable[[str], str] = _direct) -> str:
    """The aims of the issue, as ratios against the aiohttp pass-through."""
    if BASELINE not in results:
        return ""
    base = results[BASELINE]
    out = []
    for name, m in results.items():
        if name.startswith(DIRECT) or name == BASELINE:
            continue
        cpu = m["cpu_ms_per_req"] / base["cpu_ms_per_req"]
        rps = m["rps"] / base["rps"]
        added = _added_us(results, name, "c1_p50_ms", direct_of(name))
        out.append(
            f"- {name}: CPU/request {cpu:.2f}x the aiohttp pass-through "
            f"({1000 / m['cpu_ms_per_req']:.0f} req/s per core of CPU), "
            f"throughput {rps:.2f}x, added p50 at c=1 {added:.0f} µs"
        )
    return "\n".join(out)


def versus(
    results: Mapping[str, Metrics],
    new: str,
    old: str,
    direct_of: Callable[[str], str] = _direct,
) -> str:
    """One target against another of the same run (the gateway against `--baseline`'s)."""
    if new not in results or old not in results:
        return ""
    a, b = results[new], results[old]
    da, db = results[direct_of(new)], results[direct_of(old)]
    added_a = (a["c1_p50_ms"] - da["c1_p50_ms"]) * 1000
    added_b = (b["c1_p50_ms"] - db["c1_p50_ms"]) * 1000
    ttfb_a = (a["ttfb_p50_ms"] - da["ttfb_p50_ms"]) * 1000
    ttfb_b = (b["ttfb_p50_ms"] - db["ttfb_p50_ms"]) * 1000
    cpu_a, cpu_b = a["cpu_ms_per_req"], b["cpu_ms_per_req"]
    return (
        f"- {new} vs {old}, same run: CPU/request {cpu_a:.3f} vs {cpu_b:.3f} ms "
        f"(**{cpu_a / cpu_b:.2f}x**, {(cpu_a - cpu_b) * 1000:+.0f} µs), "
        f"throughput {a['rps']:.0f} vs {b['rps']:.0f} req/s ({a['rps'] / b['rps']:.2f}x), "
        f"added p50 at c=1 {added_a:.0f} vs {added_b:.0f} µs ({added_a - added_b:+.0f} µs), "
        f"added TTFB p50 {ttfb_a:.0f} vs {ttfb_b:.0f} µs ({ttfb_a - ttfb_b:+.0f} µs), "
        f"RSS {a['rss_mb']:.0f} vs {b['rss_mb']:.0f} MB"
        + (
            f", CPU/stream {a['cpu_ms_per_stream']:.3f} vs {b['cpu_ms_per_stream']:.3f} ms "
            f"(**{a['cpu_ms_per_stream'] / b['cpu_ms_per_stream']:.2f}x**)"
            if "cpu_ms_per_stream" in a and "cpu_ms_per_stream" in b
            else ""
        )
    )


def _added_us(results: Mapping[str, Metrics], name: str, key: str, direct: str) -> float:
    return (results[name][key] - results[direct][key]) * 1000


def against_chat(
    results: Mapping[str, Metrics],
    chat: str,
    names: Sequence[str],
    direct_of: Callable[[str], str] = _direct,
) -> str:
    """Each Messages target against the gateway's chat target of the same run; the bar is
    CPU/request within CHAT_BAR times chat's. 'Added' is over each one's own simulator."""
    if chat not in results:
        return ""
    c = results[chat]
    chat_added = _added_us(results, chat, "c1_p50_ms", direct_of(chat))
    chat_ttfb = _added_us(results, chat, "ttfb_p50_ms", direct_of(chat))
    out = []
    for name in names:
        m = results[name]
        cpu = m["cpu_ms_per_req"] / c["cpu_ms_per_req"]
        verdict = "within" if cpu <= CHAT_BAR else "over"
        added = _added_us(results, name, "c1_p50_ms", direct_of(name))
        ttfb = _added_us(results, name, "ttfb_p50_ms", direct_of(name))
        out.append(
            f"- {name} vs {chat} (chat), same run: CPU/request {m['cpu_ms_per_req']:.3f} vs "
            f"{c['cpu_ms_per_req']:.3f} ms (**{cpu:.2f}x**, {verdict} the {CHAT_BAR}x bar), "
            f"throughput {m['rps']:.0f} vs {c['rps']:.0f} req/s ({m['rps'] / c['rps']:.2f}x), "
            f"added p50 at c=1 {added:.0f} vs {chat_added:.0f} µs, "
            f"added TTFB p50 {ttfb:.0f} vs {chat_ttfb:.0f} µs"
        )
    return "\n".join(out)


# The summary of issue 18: (what, aim, target, metric); CPU ratios are to the pass-through's
# same metric (CPU per request or per stream), latency is added over the target's simulator.
_CPU_ROWS = (
    ("chat", "gateway", "gateway-full"),
    ("Messages passed through", "gateway-messages", "gateway-full-messages"),
    ("Messages translated", "gateway-messages-translated", "gateway-full-translated"),
)
_MEMORY_AIMS = {"cpu_ms_per_req": "≤ 1.3x", "cpu_ms_per_stream": "≤ 1.2x"}
_FULL_AIM = "≤ 1.6x"


def _cpu(m: Metrics, base: Metrics, key: str) -> str:
    return f"{m[key]:.3f} ms (**{m[key] / base[key]:.2f}x**)" if key in m else "—"


def _latency(results: Mapping[str, Metrics], name: str, direct_of: Callable[[str], str]) -> str:
    added = _added_us(results, name, "c1_p50_ms", direct_of(name))
    over_pt = _added_us(results, name, "c1_p50_ms", BASELINE)
    return f"{added:+.0f} µs ({over_pt:+.0f} µs over the pass-through)"


def _rss(m: Metrics) -> str:
    return f"{m.get('rss_ready_mb', 0):.0f} → {m['rss_mb']:.0f} MB"


def summary(
    results: Mapping[str, Metrics],
    direct_of: Callable[[str], str],
    *,
    twin: str | None = None,
    extra: Mapping[str, float] | None = None,
) -> str:
    """One table: each aim of issue 18, the pass-through, this gateway and (with `twin`, a
    suffix such as `@69233d4`) the same targets of the previous release, all of one run."""
    if BASELINE not in results:
        return ""
    base = results[BASELINE]
    head = f"| measure | aim | {BASELINE} | gateway (this code) |"
    head += f" gateway{twin} |" if twin else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def row(what: str, aim: str, first: str, name: str, cell: Callable[[str], str]) -> None:
        names = [name] + ([name + twin] if twin else [])
        cells = [cell(n) if n in results else "—" for n in names]
        lines.append("| " + " | ".join([what, aim, first, *cells]) + " |")

    for key, unit in (("cpu_ms_per_req", "request"), ("cpu_ms_per_stream", "64-event stream")):
        pt = f"{base[key]:.3f} ms" if key in base else "—"
        for column, state in ((1, "in memory"), (2, "full path")):
            aim = _MEMORY_AIMS[key] if column == 1 else _FULL_AIM
            for what, *names in _CPU_ROWS:
                row(
                    f"CPU per {unit}, {what}, {state}", aim, pt, names[column - 1],
                    lambda n, k=key: _cpu(results[n], base, k),  # type: ignore[misc]
                )  # fmt: skip
    pt_added = f"{_added_us(results, BASELINE, 'c1_p50_ms', DIRECT):+.0f} µs"
    for what, name in (("in memory", "gateway"), ("full path", "gateway-full")):
        row(
            f"added p50 at c=1 over the simulator, chat, {what}", "≤ 1 ms", pt_added, name,
            lambda n: _latency(results, n, direct_of),
        )  # fmt: skip
    for what, name in (("in memory", "gateway"), ("full path", "gateway-full")):
        row(f"RSS at ready → after the run, {what}", "flat", _rss(base), name,
            lambda n: _rss(results[n]))  # fmt: skip
    _extras(lines, extra or {}, twin)
    return "\n".join(lines)


def _extras(lines: list[str], extra: Mapping[str, float], twin: str | None) -> None:
    """Rows measured outside the rounds: workers' requests/s and start-up times."""
    dash = " — |" if twin else ""
    one, two = extra.get("workers_1_rps"), extra.get("workers_2_rps")
    if one and two:
        lines.append(
            f"| requests/s, `--workers 2` vs 1, full path, c=64 | ≥ 1.8x | — | "
            f"{two:.0f} vs {one:.0f} (**{two / one:.2f}x**) |" + dash
        )
    cpu1, cpu2 = extra.get("workers_1_cpu_ms"), extra.get("workers_2_cpu_ms")
    if cpu1 and cpu2:
        lines.append(
            f"| CPU per request, all workers, `--workers 2` vs 1 | linear: 1.0x | — | "
            f"{cpu2:.3f} vs {cpu1:.3f} ms (**{cpu2 / cpu1:.2f}x**) |" + dash
        )
    for what, key in (("in memory", "startup_memory_s"), ("full path", "startup_full_s")):
        if key not in extra:
            continue
        cpu = key.replace("_s", "_cpu_s", 1)
        last = dash
        if twin and key + "@" in extra:
            last = f" {extra[key + '@']:.2f} s ({extra[cpu + '@']:.2f} s CPU) |"
        aim = "≤ 1 s" if what == "in memory" else "—"
        lines.append(
            f"| start-up, launch to /readyz, {what} | {aim} | — "
            f"| {extra[key]:.2f} s ({extra[cpu]:.2f} s CPU) |" + last
        )
