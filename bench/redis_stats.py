"""Redis work per request of the `gateway-redis` target, from the shared server's own counters.

`INFO stats` (total_commands_processed), `INFO commandstats` (calls per command, server time)
and `INFO cpu` (the server's CPU), read before and after the c=32 phase and over one idle second
before it. The Redis may be shared: other clients' commands land in the same counters, so the
idle rate is reported next to the figures.

Redis counts the commands a Lua script runs (`redis.call`) in both total_commands_processed and
commandstats: "all commands" below is what the server executed, not only what the gateway sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import redis

from bench import loadgen
from bench.procs import HOST

DEFAULT_URL = "redis://127.0.0.1:6379/0"
IDLE_S = 1.0
_CMD = "cmd:"  # key prefix, in the metrics, of one command's calls per request


@dataclass(frozen=True, slots=True)
class Counters:
    at: float  # perf_counter
    total: int  # total_commands_processed
    calls: dict[str, int]  # per command (commandstats, "cmdstat_" removed)
    usec: dict[str, int]  # server time per command
    cpu_s: float  # used_cpu_user + used_cpu_sys of the server

    def minus(self, before: Counters) -> Counters:
        """What happened between `before` and this, without the INFO that read `before`.

        A command is counted once it has run, so an INFO reads counters without itself: of
        the two INFOs around an interval only the first one falls in it.
        """
        calls = {k: v - before.calls.get(k, 0) for k, v in self.calls.items()}
        calls["info"] = calls.get("info", 0) - 1
        usec = {k: v - before.usec.get(k, 0) for k, v in self.usec.items()}
        return Counters(
            self.at - before.at,
            self.total - before.total - 1,
            {k: v for k, v in calls.items() if v > 0},
            usec,
            self.cpu_s - before.cpu_s,
        )


class Probe:
    """A plain (sync) client on the Redis the gateway uses: counters, and the cleanup at the end.

    Sync on purpose: it is called between phases, when the load generator's loop has nothing
    else to do, and one INFO over loopback takes well under a millisecond.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)

    def check(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise RuntimeError(
                f"gateway-redis needs a Redis at {self.url} ({exc}); "
                "pass --redis-url or leave gateway-redis out of --targets"
            ) from exc

    def counters(self) -> Counters:
        info = self.client.info("stats", "commandstats", "cpu")  # one INFO command
        at = time.perf_counter()
        calls: dict[str, int] = {}
        usec: dict[str, int] = {}
        for key, value in info.items():
            if key.startswith("cmdstat_") and isinstance(value, dict):
                name = key.removeprefix("cmdstat_")
                calls[name] = int(value["calls"])
                usec[name] = int(value["usec"])
        cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return Counters(at, int(info["total_commands_processed"]), calls, usec, cpu)

    def delete_prefix(self, prefix: str) -> int:
        """SCAN for every key under `prefix` and DEL them; how many were deleted."""
        deleted = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(self.client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(self.client.delete(*batch))
        return deleted

    def any_key(self, prefix: str) -> bool:
        """Whether some key lies under `prefix` (a gateway whose state is there wrote it)."""
        return any(True for _ in self.client.scan_iter(match=_glob_escape(prefix) + "*"))

    def close(self) -> None:
        self.client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def metrics(phase: Counters, idle: Counters, requests: int) -> dict[str, float]:
    """Per request of the c=32 phase; 'background' is the idle rate over the phase's length."""
    idle_rate = idle.total / idle.at if idle.at > 0 else 0.0
    background = idle_rate * phase.at / requests
    evalsha = phase.calls.get("evalsha", 0)
    out = {
        "redis_evalsha_per_req": evalsha / requests,
        "redis_cmds_per_req": phase.total / requests,
        "redis_background_per_req": background,
        "redis_idle_cmds_per_s": idle_rate,
        "redis_cpu_us_per_req": phase.cpu_s * 1e6 / requests,
        "redis_evalsha_server_us": phase.usec.get("evalsha", 0) / evalsha if evalsha else 0.0,
    }
    for name, calls in phase.calls.items():
        out[_CMD + name] = calls / requests
    return out


async def check_backend(port: int) -> None:
    """The gateway's store must be Redis, and healthy (else it silently routes on local state)."""
    request = f"GET /readyz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    state = orjson.loads(await loadgen.fetch(port, request)).get("state", {})
    if state.get("backend") != "redis" or not state.get("ok"):
        raise RuntimeError(f"gateway-redis is not on a healthy Redis store: {state}")


def fill(rounds: list[dict[str, float]]) -> None:
    """Give every round every command key (0 where a command did not occur), for the medians."""
    keys = {k for r in rounds for k in r if k.startswith(_CMD)}
    for r in rounds:
        for k in keys:
            r.setdefault(k, 0.0)


def table(results: Mapping[str, Mapping[str, float]]) -> str:
    """The Redis figures of the targets that have them, and Redis against in-memory state."""
    rows = {name: m for name, m in results.items() if "redis_cmds_per_req" in m}
    if not rows:
        return ""
    lines = [
        "| target | EVALSHA/req | all commands/req | of which background | idle commands/s "
        "| Redis CPU µs/req | EVALSHA server µs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| **{name}** | {m['redis_evalsha_per_req']:.3f} | {m['redis_cmds_per_req']:.3f} "
            f"| {m['redis_background_per_req']:.3f} | {m['redis_idle_cmds_per_s']:.1f} "
            f"| {m['redis_cpu_us_per_req']:.1f} | {m['redis_evalsha_server_us']:.1f} |"
        )
    lines.append("")
    for name, m in rows.items():
        cmds = sorted(
            ((k.removeprefix(_CMD), v) for k, v in m.items() if k.startswith(_CMD) and v > 0),
            key=lambda kv: -kv[1],
        )
        lines.append(
            f"- {name}, commands per request by "
            "name (incl. those run inside scripts): " + ", ".join(f"{k} {v:.3f}" for k, v in cmds)
        )
    memory = results.get("gateway")
    direct = results.get("direct")
    for name, m in rows.items():
        if memory is None or direct is None:
            continue
        lines.append(
            f"- {name} vs gateway (in-memory state), same run: added p50 c=1 "
            f"{(m['c1_p50_ms'] - direct['c1_p50_ms']) * 1000:.0f} vs "
            f"{(memory['c1_p50_ms'] - direct['c1_p50_ms']) * 1000:.0f} µs "
            f"({(m['c1_p50_ms'] - memory['c1_p50_ms']) * 1000:+.0f} µs); "
            f"CPU {m['cpu_ms_per_req']:.3f} vs {memory['cpu_ms_per_req']:.3f} ms/req "
            f"({(m['cpu_ms_per_req'] / memory['cpu_ms_per_req'] - 1) * 100:+.0f}%, "
            f"plus {m['redis_cpu_us_per_req']:.0f} µs in the Redis server); "
            f"req/s c=32 {m['rps']:.0f} vs {memory['rps']:.0f}; "
            f"p50 c=32 {m['c32_p50_ms']:.2f} vs {memory['c32_p50_ms']:.2f} ms"
        )
    return "\n".join(lines)
