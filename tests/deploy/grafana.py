"""Reading the provisioned Grafana dashboards: panels and their queries, Grafana's SQL macros
rendered to plain SQL for a given time range, and the metric names a PromQL expression reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
POSTGRES_UID = "gateway-postgres"
PROMETHEUS_UID = "gateway-prometheus"

# The /metrics contract agreed with gateway/api's metrics (issue 16): name -> labels. Histograms
# are exposed as NAME_bucket / NAME_sum / NAME_count (plus `le` on the buckets).
GEN_AI = ("gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name")
HISTOGRAMS: dict[str, frozenset[str]] = {
    "gen_ai_client_operation_duration_seconds": frozenset(GEN_AI),
    "gen_ai_client_token_usage": frozenset({*GEN_AI, "gen_ai_token_type"}),
    "gen_ai_client_operation_time_to_first_chunk_seconds": frozenset(GEN_AI),
    "gateway_overhead_seconds": frozenset({"route"}),
}
CONTRACT: dict[str, frozenset[str]] = {
    **HISTOGRAMS,
    "gateway_requests_total": frozenset({"route", "deployment", "status"}),
    "gateway_attempts_total": frozenset({"deployment", "outcome"}),
    "gateway_failovers_total": frozenset({"route", "reason"}),
    "gateway_cost_usd_total": frozenset({"team", "provider", "model"}),
    "gateway_quota_headroom_ratio": frozenset({"deployment"}),
    "gateway_circuit_state": frozenset({"deployment"}),
    "gateway_in_flight_requests": frozenset({"deployment"}),
    "gateway_hedges_total": frozenset({"route", "outcome"}),
    "gateway_budget_remaining_usd": frozenset({"team", "period"}),
    "gateway_ledger_queue_rows": frozenset(),
    "gateway_ledger_spooled_rows": frozenset(),
    "gateway_redis_up": frozenset(),
    "gateway_database_up": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Query:
    dashboard: str  # file stem: spend, routing
    panel: str  # panel title, or "variable NAME"
    ref: str
    uid: str  # data source uid
    text: str  # rawSql or PromQL
    format: str = "table"  # SQL: table or time_series (then a `time` column is required)


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dash: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows too."""
    for panel in dash.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries() -> Iterator[Query]:
    """Every query of every dashboard: each panel target, each query variable."""
    for stem, dash in dashboards().items():
        for panel in panels(dash):
            for target in panel.get("targets", []):
                uid = (target.get("datasource") or panel["datasource"])["uid"]
                text = target.get("rawSql") or target.get("expr") or ""
                fmt = target.get("format", "table")
                yield Query(stem, panel["title"], target["refId"], uid, text, fmt)
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                raw = var["query"]
                text = raw["query"] if isinstance(raw, dict) else raw
                yield Query(stem, f"variable {var['name']}", "var", var["datasource"]["uid"], text)


# ---------------------------------------------------------------- SQL: Grafana's macros
@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    end: datetime
    interval_s: int  # what Grafana would pick as $__interval


def _at(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _seconds(interval: str) -> int:
    match = re.fullmatch(r"(\d+)([smhd])", interval.strip().strip("'"))
    assert match, f"unsupported interval {interval!r}"
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def render_sql(sql: str, span: Range, variables: Mapping[str, Sequence[str]]) -> str:
    """What Grafana's Postgres data source sends for `sql` (the macros it expands, as its docs
    give them; multi-value variables as a quoted, comma-separated list)."""
    out = sql.replace("$__interval", f"{span.interval_s}s")

    def group(m: re.Match[str]) -> str:
        n = _seconds(m["interval"])
        alias = ' AS "time"' if m["alias"] else ""
        return f"floor(extract(epoch from {m['column']})/{n})*{n}{alias}"

    out = re.sub(
        r"\$__timeGroup(?P<alias>Alias)?\(\s*(?P<column>[\w.]+)\s*,\s*(?P<interval>[^),]+?)\s*"
        r"(?:,[^)]*)?\)",  # an optional third argument: the fill mode, which SQL doesn't see
        group,
        out,
    )
    out = re.sub(
        r"\$__timeFilter\(\s*([\w.]+)\s*\)",
        lambda m: f"{m[1]} BETWEEN {_at(span.start)} AND {_at(span.end)}",
        out,
    )
    out = out.replace("$__timeFrom()", _at(span.start)).replace("$__timeTo()", _at(span.end))
    for name, values in variables.items():
        listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
        out = re.sub(rf"\$\{{{name}\}}|\${name}\b", listed, out)
    leftover = re.findall(r"\$[\w{]+", out)
    assert not leftover, f"macros or variables left unexpanded: {leftover}"
    return out


# ---------------------------------------------------------------- PromQL: names read
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"and", "or", "unless", "inf", "nan"}
)


@dataclass(frozen=True, slots=True)
class PromRefs:
    metrics: frozenset[str]  # as written: NAME, NAME_bucket, ...
    labels: frozenset[str]  # in matchers and in by/without/on/ignoring/group_* lists


def prom_refs(expr: str) -> PromRefs:
    """The series names and label names a PromQL expression refers to (grafana's
    `label_values(metric, label)` too). Enough of PromQL for dashboards: strings, matchers,
    ranges, grouping clauses and function calls are told apart from metric names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries: [5m], [$__rate_interval]
    labels: set[str] = set()
    values = re.search(
        r"label_values\(\s*(?:([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,\s*)?(\w+)\s*\)", text
    )
    if values:
        labels.add(values[2])
        text = values[1] or ""
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    for grouping in re.findall(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text
    ):
        labels.update(w.strip() for w in grouping.split(",") if w.strip())
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)  # $__range, ... outside brackets
    names = {
        m[1]
        for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", text)
        if m[2] is None and m[1].lower() not in _KEYWORDS
    }
    return PromRefs(frozenset(names), frozenset(labels))


def contract_family(series: str) -> str | None:
    """The contract metric a series name belongs to (NAME_bucket -> NAME for a histogram)."""
    if series in CONTRACT:
        return series
    for suffix in ("_bucket", "_sum", "_count"):
        base = series.removesuffix(suffix)
        if base != series and base in HISTOGRAMS:
            return base
    return None
