"""The provisioned Grafana dashboards are well-formed, use only the provisioned data sources,
and their Prometheus panels read only metrics (and labels) of the /metrics contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from tests.deploy.grafana import (
    CONTRACT,
    DASHBOARDS,
    DEPLOY,
    POSTGRES_UID,
    PROMETHEUS_UID,
    Range,
    contract_family,
    dashboards,
    panels,
    prom_refs,
    queries,
    render_sql,
)

PROVISIONING = DEPLOY / "grafana" / "provisioning"
# Grafana's core panel plugins that the dashboards use (no plugin to install).
PANEL_TYPES = {"timeseries", "stat", "bargauge", "table", "piechart", "state-timeline"}


def provisioned_datasources() -> dict[str, str]:
    """uid -> type, from every file of provisioning/datasources."""
    found: dict[str, str] = {}
    for path in sorted((PROVISIONING / "datasources").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"] == 1, path
        for source in doc["datasources"]:
            found[source["uid"]] = source["type"]
    return found


def test_datasources_are_postgres_and_prometheus() -> None:
    assert provisioned_datasources() == {
        POSTGRES_UID: "grafana-postgresql-datasource",
        PROMETHEUS_UID: "prometheus",
    }


def test_datasources_carry_no_password() -> None:
    for path in (PROVISIONING / "datasources").glob("*.yml"):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            secure = source.get("secureJsonData", {})
            assert all(str(v).startswith("$") for v in secure.values()), path  # env references
            assert "password" not in source  # only ever in secureJsonData


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    [path] = (PROVISIONING / "dashboards").glob("*.yml")
    [provider] = yaml.safe_load(path.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"  # see docker-compose.yml


def test_the_two_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS.glob("*.json")} == {"spend.json", "routing.json"}


@pytest.mark.parametrize("stem", ["spend", "routing"])
def test_dashboard_is_well_formed(stem: str) -> None:
    dash = dashboards()[stem]
    assert dash["uid"] == f"gateway-{stem}"
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    assert dash["title"] and dash["panels"]
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    sources = provisioned_datasources()
    for panel in panels(dash):
        assert panel["title"], panel
        assert panel["type"] in PANEL_TYPES, panel["title"]
        _grid_fits(panel)
        _uses_provisioned(panel["datasource"], sources)
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            _uses_provisioned(target["datasource"], sources)
            assert target.get("rawSql") or target.get("expr"), panel["title"]
    for var in dash["templating"]["list"]:
        _uses_provisioned(var["datasource"], sources)


def _grid_fits(panel: dict[str, Any]) -> None:
    grid = panel["gridPos"]
    assert grid["w"] > 0 and grid["h"] > 0
    assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]  # 24 columns


def _uses_provisioned(ref: dict[str, str], sources: dict[str, str]) -> None:
    assert ref["uid"] in sources, ref
    assert ref["type"] == sources[ref["uid"]], ref


def test_panels_do_not_overlap() -> None:
    for stem, dash in dashboards().items():
        cells: dict[tuple[int, int], str] = {}
        for panel in panels(dash):
            g = panel["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{stem}: {panel['title']} over {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_spend_reads_the_ledger_and_routing_reads_prometheus() -> None:
    by_source = {(q.dashboard, q.uid) for q in queries()}
    assert ("spend", POSTGRES_UID) in by_source
    assert ("routing", PROMETHEUS_UID) in by_source
    assert ("routing", POSTGRES_UID) not in by_source


def test_prometheus_queries_read_only_contract_metrics_and_labels() -> None:
    prom = [q for q in queries() if q.uid == PROMETHEUS_UID]
    assert len(prom) > 10
    seen: set[str] = set()
    for q in prom:
        refs = prom_refs(q.text)
        assert refs.metrics, f"{q.panel}: no metric in {q.text}"
        families = {name: contract_family(name) for name in refs.metrics}
        unknown = sorted(name for name, family in families.items() if family is None)
        assert not unknown, f"{q.dashboard} / {q.panel}: not in the /metrics contract: {unknown}"
        allowed = {"le"}.union(*(CONTRACT[f] for f in families.values() if f is not None))
        assert refs.labels <= allowed, f"{q.panel}: labels {sorted(refs.labels - allowed)}"
        seen.update(f for f in families.values() if f is not None)
    # Each family of the contract is on a dashboard (a new one needs a panel, or a reason).
    assert seen == set(CONTRACT)


@pytest.mark.parametrize(
    ("expr", "metrics", "labels"),
    [
        ("up", {"up"}, set()),
        (
            'sum by (a) (rate(x_total{b="1", c=~"$v"}[$__rate_interval]))',
            {"x_total"},
            {"a", "b", "c"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))",
            {"h_bucket"},
            {"le"},
        ),
        ("a / ignoring(d) group_left sum(b)", {"a", "b"}, {"d"}),
        ('count(x{name="sum(y)"}) * 3600', {"x"}, {"name"}),  # a string is not a name
        ("max without (pid) (g) > bool 1", {"g"}, {"pid"}),
        ("label_values(gateway_requests_total, route)", {"gateway_requests_total"}, {"route"}),
        ("increase(c[$__range]) offset 1h", {"c"}, set()),
    ],
)
def test_prom_refs(expr: str, metrics: set[str], labels: set[str]) -> None:
    refs = prom_refs(expr)
    assert (set(refs.metrics), set(refs.labels)) == (metrics, labels)


@pytest.mark.parametrize(
    ("series", "family"),
    [
        ("gateway_overhead_seconds_bucket", "gateway_overhead_seconds"),
        ("gen_ai_client_token_usage_sum", "gen_ai_client_token_usage"),
        ("gateway_requests_total", "gateway_requests_total"),
        ("gateway_requests_total_bucket", None),  # a counter has no buckets
        ("gateway_requests", None),
    ],
)
def test_contract_family(series: str, family: str | None) -> None:
    assert contract_family(series) == family


SPAN = Range(datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC), 300)


@pytest.mark.parametrize(
    ("sql", "rendered"),
    [
        (
            "SELECT $__timeGroupAlias(created_at, $__interval), 1",
            'SELECT floor(extract(epoch from created_at)/300)*300 AS "time", 1',
        ),
        ("$__timeGroup(t.at, '1h', 0)", "floor(extract(epoch from t.at)/3600)*3600"),
        (
            "WHERE $__timeFilter(created_at)",
            "WHERE created_at BETWEEN '2026-11-03T00:00:00Z' AND '2026-11-03T12:00:00Z'",
        ),
        ("$__timeTo()::timestamptz", "'2026-11-03T12:00:00Z'::timestamptz"),
        ("team IN ($team) OR x IN (${team})", "team IN ('a', 'o''b') OR x IN ('a', 'o''b')"),
    ],
)
def test_render_sql(sql: str, rendered: str) -> None:
    assert render_sql(sql, SPAN, {"team": ["a", "o'b"]}) == rendered


def test_render_sql_refuses_what_it_does_not_know() -> None:
    with pytest.raises(AssertionError, match=r"\$__unixEpochFilter"):
        render_sql("WHERE $__unixEpochFilter(t)", SPAN, {})
    with pytest.raises(AssertionError, match=r"\$other"):
        render_sql("WHERE x IN ($other)", SPAN, {"team": ["a"]})
