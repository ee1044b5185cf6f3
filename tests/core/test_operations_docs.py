"""The operators' documents name only what exists: every series an alert rule or a dashboard panel reads is one
app/metrics.py keeps, every rule file parses (and passes `promtool check rules` where promtool is installed),
and every `python -m app` command a runbook tells an operator to run is one the command line has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from app.config import Settings
from app.metrics import SERIES
from app.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus-alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"
SERIES_NAME = re.compile(r"\b(app_[a-z_]+)\b")
# Series Prometheus itself keeps about every target.
PROMETHEUS_OWN = {"up"}

pytestmark = pytest.mark.unit


def named_series(expr: str) -> set[str]:
    return set(SERIES_NAME.findall(expr))


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_rule_reads_series_that_exist():
    found = rules()
    assert len(found) >= 8
    for rule in found:
        assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
        names = named_series(rule["expr"])
        assert names or set(re.findall(r"\b([a-z_]+)\{", rule["expr"])) <= PROMETHEUS_OWN, rule["alert"]
        assert names <= set(SERIES), f"{rule['alert']} names {names - set(SERIES)}"


def test_every_runbook_an_alert_points_to_is_a_heading_of_operations_md():
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in OPERATIONS.read_text().splitlines() if line.startswith("#")}
    for rule in rules():
        for anchor in re.findall(r"#([a-z0-9-]+)", rule["annotations"].get("runbook", "")):
            assert anchor in headings, f"{rule['alert']}: no heading #{anchor} in docs/operations.md"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
def test_promtool_accepts_the_rules():
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_panel_reads_series_that_exist():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"  # importable: asks for its data source
    series = set(SERIES)
    read = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = named_series(target["expr"])
            assert names and names <= series, f"{panel['title']}: {names - series}"
            read |= names
    kinds = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in series}
    shown = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in read}
    assert kinds - shown <= {"app_circuit_breaker_transitions_total", "app_job_duration_seconds"}, kinds - shown


def test_every_command_a_runbook_gives_exists():
    parser = build_parser(Settings())
    commands = re.findall(r"python -m app ([a-z-]+(?: [a-z-]+)?)", OPERATIONS.read_text())
    assert commands
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in commands:
        first, *rest = command.split()
        assert first in subcommands, command
        if rest and first in ("keys", "audit"):
            assert rest[0] in subcommands[first]._actions[-1].choices, command
