"""Start-up benchmark: how long a gateway takes to serve its first answer, with and without a
provider served through litellm (which imports litellm; no other gateway ever does).

    .venv/bin/python -m bench.startup [--runs N]

The simulator runs on one core; each gateway (`python -m bench.serve gateway`, as the overhead
benchmark runs it) is started N times on the other, one at a time: `gateway` in front of the
simulator as an OpenAI-compatible provider, `gateway-litellm` in front of the same simulator as
`kind: litellm` (`openai/m`). For each start: seconds until /healthz answers, seconds until the
first chat completion answers 200, the CPU seconds the process used by then, and its RSS.
Figures are medians over the runs. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import fleet
from bench.procs import HOST, Child, cpu_seconds, rss_mb, spawn
from bench.serve import SIM_MODEL, default_http

_BODY = orjson.dumps(
    {"model": SIM_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
)


@dataclass(frozen=True, slots=True)
class Start:
    healthz_s: float
    first_answer_s: float
    cpu_s: float
    rss_mb: float


def _status(port: int, method: str, path: str, body: bytes | None = None) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {"content-type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _until(child: Child, started: float, method: str, path: str, body: bytes | None) -> float:
    while _status(child.port, method, path, body) != 200:
        child.check_alive()
        if time.perf_counter() - started > 120:
            raise TimeoutError(f"{child.name}: no 200 from {path}\n{child.log_tail()}")
        time.sleep(0.01)
    return time.perf_counter() - started


def start_once(name: str, args: list[str], workdir: Path, cpu: int | None) -> Start:
    started = time.perf_counter()
    child = spawn(name, args, cpu=cpu, logdir=workdir)
    try:
        healthz = _until(child, started, "GET", "/healthz", None)
        first = _until(child, started, "POST", "/v1/chat/completions", _BODY)
        return Start(healthz, first, cpu_seconds(child.pid), rss_mb(child.pid))
    finally:
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pinned = fleet.cores()
    children: dict[str, Child] = {}
    with tempfile.TemporaryDirectory(prefix="gwstartup-") as tmp:
        workdir = Path(tmp)
        try:
            fleet.start(children, [fleet.DIRECT], workdir, default_http(), pinned)
            upstream = f"http://127.0.0.1:{children[fleet.DIRECT].port}/v1"
            (workdir / "providers-litellm.yaml").write_text(fleet.litellm_providers(upstream))
            os.environ.setdefault(fleet.LITELLM_KEY_ENV, "sk-bench")
            http = ["--http", default_http()]
            targets = {
                "gateway": [*fleet.gateway_args(workdir), *http],
                fleet.LITELLM: [
                    *fleet.gateway_args(workdir, providers="providers-litellm.yaml"),
                    *http,
                ],
            }
            results: dict[str, list[Start]] = {name: [] for name in targets}
            for _ in range(args.runs):  # interleaved: drift hits both alike
                for name, argv in targets.items():
                    results[name].append(start_once(name, argv, workdir, pinned[0]))
        finally:
            fleet.stop(children)
    print(f"start-up, median of {args.runs} starts each (seconds; RSS in MB)")
    print(f"{'target':<18}{'/healthz':>10}{'1st answer':>12}{'CPU':>8}{'RSS':>8}")
    for name, starts in results.items():
        med = [
            statistics.median(getattr(s, f) for s in starts)
            for f in ("healthz_s", "first_answer_s", "cpu_s", "rss_mb")
        ]
        print(f"{name:<18}{med[0]:>10.2f}{med[1]:>12.2f}{med[2]:>8.2f}{med[3]:>8.0f}")


if __name__ == "__main__":
    main()
