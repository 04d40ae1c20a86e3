"""bench/routing's pure parts: scenario files, the oracle, the figures and the policies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bench.routing.oracle import choose, meets, oracle
from bench.routing.report import (
    Sample,
    VendorTally,
    fault_times,
    met_slo,
    quota_use,
    summarize,
    summarize_oracle,
    table,
    window_peak,
    with_oracle_ratio,
)
from bench.routing.run import STRATEGIES, policies_yaml
from bench.routing.scenario import (
    Arrival,
    Scenario,
    SloSpec,
    arrivals,
    load,
    state_at,
    switches,
)

SCENARIOS = sorted((Path(__file__).parents[2] / "bench" / "routing" / "scenarios").glob("*.yaml"))


def scenario(**over: object) -> Scenario:
    raw: dict[str, object] = {
        "name": "t",
        "duration_s": 30,
        "rps": 10,
        "prompt_chars": 400,  # 100 prompt tokens
        "output_tokens": 10,
        "classes": [{"name": "chat", "slo": {"ttft_ms": 500, "tpot_ms": 50}}],
        "vendors": {
            "cheap": {"price": [1.0, 2.0], "ttft_ms": 200, "ttft_jitter": 0.1, "rpm": 3},
            "mid": {"price": [2.0, 4.0], "ttft_ms": 450, "ttft_jitter": 0.2},
            "fast": {"price": [5.0, 10.0], "ttft_ms": 50},
        },
    }
    return Scenario.model_validate(raw | over)


def test_every_shipped_scenario_parses_and_has_a_distinct_name() -> None:
    assert len(SCENARIOS) >= 5
    names = {load(p).name for p in SCENARIOS}
    assert len(names) == len(SCENARIOS)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"faults": [{"vendor": "nope", "start_s": 1, "end_s": 2, "set": {}}]}, "unknown vendor"),
        ({"faults": [{"vendor": "cheap", "start_s": 5, "end_s": 2, "set": {}}]}, "end_s"),
        ({"classes": []}, "at least 1"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_bad_scenarios_are_refused(over: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        scenario(**over)


def test_prices_order_and_request_cost() -> None:
    sc = scenario()
    assert sc.by_price() == ["cheap", "mid", "fast"]
    assert sc.request_usd("cheap") == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
    assert sc.vendors["cheap"].declared == 3
    undeclared = scenario(
        vendors={"v": {"price": [1, 1], "ttft_ms": 1, "rpm": 5, "declared_rpm": 0}}
    )
    assert undeclared.vendors["v"].declared is None


def test_arrivals_are_seeded_and_split_by_class_share() -> None:
    sc = scenario(
        rps=50,
        classes=[
            {"name": "a", "share": 3, "slo": {"ttft_ms": 1}},
            {"name": "b", "share": 1, "slo": {"ttft_ms": 1}},
        ],
    )
    plan = arrivals(sc)
    assert plan == arrivals(sc)
    assert all(0 < x.at_s < sc.duration_s for x in plan)
    assert abs(len(plan) - 1500) < 150
    share_a = sum(x.cls == "a" for x in plan) / len(plan)
    assert share_a == pytest.approx(0.75, abs=0.05)
    assert sum(x.stream for x in plan) / len(plan) == pytest.approx(0.5, abs=0.05)


def test_faults_apply_in_their_window_and_are_undone() -> None:
    sc = scenario(faults=[{"vendor": "cheap", "start_s": 10, "end_s": 20, "set": {"ttft_ms": 900}}])
    assert state_at(sc, "cheap", 9.9)["ttft_ms"] == 200
    assert state_at(sc, "cheap", 10.0)["ttft_ms"] == 900
    assert state_at(sc, "cheap", 20.0)["ttft_ms"] == 200
    assert state_at(sc, "mid", 15.0)["ttft_ms"] == 450
    assert switches(sc) == [(10, "cheap", {"ttft_ms": 900}), (20, "cheap", {"ttft_ms": 200.0})]


def test_meets_uses_the_slowest_jittered_first_token_and_the_decode_pace() -> None:
    slo = SloSpec(ttft_ms=500, tpot_ms=50)
    base = {"ttft_ms": 450.0, "ttft_jitter": 0.0, "tokens_per_s": 100.0}
    assert meets(base, slo)
    assert not meets(base | {"ttft_jitter": 0.2}, slo)  # 540 ms at worst
    assert not meets(base | {"tokens_per_s": 10.0}, slo)  # 100 ms per token


def test_oracle_takes_the_cheapest_feasible_within_its_limit() -> None:
    sc = scenario()
    plan = [Arrival(float(t), False, "chat") for t in range(6)]
    run = oracle(sc, plan)
    # cheap has room for 3 per minute; mid's worst TTFT (540 ms) misses 500: fast takes the rest.
    assert run.per_vendor == {"cheap": [0.0, 1.0, 2.0], "fast": [3.0, 4.0, 5.0]}
    assert run.served == run.slo_met == 6
    expected = 3 * sc.request_usd("cheap") + 3 * sc.request_usd("fast")
    assert run.usd == pytest.approx(expected)
    later = oracle(sc, [*plan, Arrival(61.0, False, "chat")])  # the window slid
    assert later.per_vendor["cheap"][-1] == 61.0


def test_oracle_avoids_a_failing_vendor_and_falls_back_when_nothing_meets_the_slo() -> None:
    failing = scenario(
        faults=[{"vendor": "cheap", "start_s": 0, "end_s": 10, "set": {"error_rate": 1.0}}]
    )
    assert choose(failing, Arrival(1.0, False, "chat"), {}) == ("fast", True)
    strict = scenario(classes=[{"name": "chat", "slo": {"ttft_ms": 10}}])
    assert choose(strict, Arrival(1.0, False, "chat"), {}) == ("cheap", False)
    down = scenario(
        vendors={"v": {"price": [1, 1], "ttft_ms": 1}},
        faults=[{"vendor": "v", "start_s": 0, "end_s": 10, "set": {"error_rate": 0.5}}],
    )
    run = oracle(down, [Arrival(1.0, False, "chat")])
    assert (run.requests, run.served, run.usd) == (1, 0, 0.0)


@pytest.mark.parametrize(
    ("sample", "met"),
    [
        (Sample(0, "chat", True, True, 300, 200, 11), True),
        (Sample(0, "chat", True, True, 1300, 200, 11), False),  # 110 ms per token
        (Sample(0, "chat", True, True, 700, 600, 11), False),  # first token late
        (Sample(0, "chat", False, True, 900, None, 10), True),  # within 500 + 10 x 50
        (Sample(0, "chat", False, True, 1100, None, 10), False),
        (Sample(0, "chat", True, False, 100, 50, 1), False),  # failed
    ],
)
def test_slo_met_per_sample(sample: Sample, met: bool) -> None:
    assert met_slo(sample, SloSpec(ttft_ms=500, tpot_ms=50), 10) is met


def test_window_peak_and_quota_use() -> None:
    assert window_peak([]) == 0
    assert window_peak([0, 1, 2, 61, 62]) == 3
    assert window_peak([0, 59.9, 60.0, 60.5]) == 3
    sc = scenario()
    assert quota_use(sc, {"cheap": [0, 1, 2]}) == {"cheap": 1.0}  # only declared vendors
    assert quota_use(sc, {}) == {"cheap": 0.0}
    # Declared too high (6, the vendor enforces 3): use of the limit that holds.
    high = scenario(vendors={"cheap": {"price": [1, 1], "ttft_ms": 1, "rpm": 3, "declared_rpm": 6}})
    assert quota_use(high, {"cheap": [0, 1, 2]}) == {"cheap": 1.0}


def test_fault_times_divert_and_readmit() -> None:
    sc = scenario(
        rps=20,
        faults=[{"vendor": "cheap", "start_s": 10, "end_s": 20, "set": {"ttft_ms": 900}}],
    )
    sends = [i * 0.05 for i in range(600)]  # 20 per second for 30 s
    # All traffic on cheap before; gone 2 s into the fault; back 3 s after it.
    arrivals_cheap = [t for t in sends if t < 12 or t >= 23]
    divert, readmit = fault_times(sc, arrivals_cheap, sends)
    assert divert == pytest.approx(2.0, abs=0.15)  # within a window holding <= 10 %
    assert readmit is not None and 2.0 < readmit <= 3.0
    assert fault_times(sc, [], sends) == (None, None)  # carried nothing before: nothing to tell
    assert fault_times(scenario(), arrivals_cheap, sends) == (None, None)  # no fault


def test_summaries_ratio_and_table() -> None:
    sc = scenario()
    samples = [
        Sample(0.0, "chat", True, True, 300, 100, 10),
        Sample(0.5, "chat", False, False, 50, None, 0),
    ]
    vendors = {
        "cheap": VendorTally([0.0, 0.4], 100, 10, status_429=1),
        "fast": VendorTally([0.5], 100, 10),
    }
    row = summarize(sc, samples, vendors)
    assert row["success"] == 0.5 and row["slo"] == 0.5
    assert row["usd"] == pytest.approx(sc.request_usd("cheap") + sc.request_usd("fast"))
    assert row["usd_per_mtok"] == pytest.approx(row["usd"] * 1e6 / 220)  # type: ignore[operator]
    assert (row["upstream_429"], row["declared_429"]) == (1, 1)
    assert row["quota"] == "cheap 67%"
    plan = [Arrival(0.0, True, "chat"), Arrival(0.5, False, "chat")]
    best = summarize_oracle(sc, plan, oracle(sc, plan))
    assert best["usd"] == pytest.approx(2 * sc.request_usd("cheap"))
    rows = with_oracle_ratio({"ours": row, "oracle": best}, best)
    ratio = rows["ours"]["vs_oracle"]
    assert isinstance(ratio, float) and ratio > 1.0
    assert rows["oracle"]["vs_oracle"] == 1.0
    text = table(rows)
    assert text.count("\n") == 3 and "| ours | 2 | 50.0% |" in text and "| — |" in text
    assert math.isnan(summarize(sc, [], {})["success"])  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_is_a_valid_gateway_policy(strategy: str) -> None:
    from gateway.config.policies import PolicyFile

    sc = scenario()
    doc = yaml.safe_load(policies_yaml(sc, strategy))
    policy = PolicyFile.model_validate(doc)
    route = policy.routes["chat"]
    assert route.slo.ttft_ms == 500 and route.slo.value_usd is None
    if strategy == "cheapest+retries":
        assert route.targets == ("cheap/m",)
    else:
        assert route.targets == ("cheap/m", "mid/m", "fast/m")
