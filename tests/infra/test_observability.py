"""The Grafana dashboard and the Prometheus rules in infra/ against the metrics the code defines: every metric
they query exists, every alert is complete, every panel has a title and a query. With promtool on the PATH
(Debian's prometheus package) the rules, the config and every dashboard query are also checked by Prometheus's
own parser, and the rules' unit tests (infra/prometheus/alerts_test.yml) are run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import arena.api.request_metrics
import arena.metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infra" / "grafana" / "arena-dashboard.json"
PROMETHEUS = ROOT / "infra" / "prometheus"
METRIC = re.compile(r"\barena_[a-z0-9_]+")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def defined_metrics() -> dict[str, str]:
    """Every series name the code exports -> its type: counters as ``name_total``, histograms by their base name."""
    names = {}
    for module in (arena.metrics, arena.api.request_metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                family = value.describe()[0]
                name = family.name + "_total" if family.type == "counter" else family.name
                names[name] = family.type
    return names


def used_metrics(expr: str, defined: dict[str, str]) -> set[str]:
    """The arena_* metric names a PromQL expression reads, histogram series folded into their histogram."""
    used = set()
    for name in METRIC.findall(expr):
        for suffix in HISTOGRAM_SERIES:
            base = name.removesuffix(suffix)
            if base != name and defined.get(base) == "histogram":
                name = base
                break
        used.add(name)
    return used


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    """Every panel, those inside collapsed rows too."""
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def graphs(board: dict) -> list[dict]:
    """The panels that show data (rows only group them)."""
    return [panel for panel in panels(board) if panel["type"] != "row"]


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]  # fmt: skip


def test_every_metric_queried_is_defined_by_the_code():
    defined = defined_metrics()
    assert "arena_http_requests_total" in defined and defined["arena_engine_tick_duration_seconds"] == "histogram"
    exprs = [target["expr"] for panel in graphs(dashboard()) for target in panel["targets"]]
    exprs += [rule["expr"] for rule in rules()]
    used = set().union(*(used_metrics(expr, defined) for expr in exprs))
    assert used - set(defined) == set(), "queried but not defined in arena.metrics / arena.api.request_metrics"
    # the dashboard covers the production planes
    for name in ("arena_http_request_duration_seconds", "arena_engine_last_tick_timestamp_seconds",
                 "arena_takeovers_total", "arena_lease_age_seconds", "arena_bot_host_slots",
                 "arena_bot_hosts_lost_total", "arena_orders_total", "arena_sandbox_ends_total",
                 "arena_websocket_clients", "arena_sse_clients", "arena_webhook_backlog"):  # fmt: skip
        assert name in used, name


def test_every_alert_is_complete():
    alerts = rules()
    assert len({rule["alert"] for rule in alerts}) == len(alerts) >= 9
    for rule in alerts:
        assert rule["expr"].strip(), rule["alert"]
        assert DURATION.match(str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), rule["alert"]


def test_every_panel_has_a_title_a_query_and_its_own_id():
    board = dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert all(panel["title"].strip() for panel in panels(board))
    for panel in graphs(board):
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_prometheus_config_scrapes_every_plane_and_loads_the_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"arena-api", "arena-engine", "arena-bots"}
    for job in jobs.values():
        for target in (t for group in job["static_configs"] for t in group["targets"]):
            assert target.startswith("127.0.0.1:"), target


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package prometheus): PromQL not checked by Prometheus")
    return path


def run(*args: str | Path, cwd: Path = PROMETHEUS) -> None:
    done = subprocess.run([promtool(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_checks_the_rules_the_config_and_the_rules_unit_tests():
    run("check", "rules", "alerts.yml")
    run("check", "config", "prometheus.yml")
    run("test", "rules", "alerts_test.yml")


def test_promtool_parses_every_dashboard_query(tmp_path):
    """Each panel query as a recording rule (Grafana's own variables replaced), for promtool to parse."""
    recorded = []
    for panel in graphs(dashboard()):
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: an unknown Grafana variable in {expr}"
            recorded.append({"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": expr})
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    run("check", "rules", "dashboard.yml", cwd=tmp_path)
