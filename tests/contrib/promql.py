"""The PromQL that contrib/ ships, as a real Prometheus is asked it: the expressions of the
alerting rules and of the Grafana dashboard (its variables filled in), and the metric names
each one reads. Shared by the promtool tests and the e2e test against a live daemon."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRIB = REPO_ROOT / "contrib"
RULES = CONTRIB / "prometheus" / "alerts.yml"
# Reads gitops_notifications_total, which a daemon serves only once it sends notifications.
NOTIFICATION_RULES = CONTRIB / "prometheus" / "alerts-notifications.yml"
RULE_TESTS = CONTRIB / "prometheus" / "alerts_test.yml"
DASHBOARD = CONTRIB / "grafana" / "gitops-compose.json"
PROMETHEUS_SCRIPT = REPO_ROOT / "scripts" / "prometheus.sh"

# Words of PromQL that look like metric names but are not.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^label_values\(\s*([^,()]+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions,
    keywords, label names, strings or durations."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for found in _IDENTIFIER.finditer(text):
        word = found.group()
        before = text[found.start() - 1] if found.start() else " "
        if before.isdigit() or before == ".":
            continue  # the unit of a duration (offset 5m) or an exponent (1e3)
        if text[found.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def rule_expressions(path: Path = RULES) -> dict[str, str]:
    """Each alerting or recording rule's name and expression."""
    document = yaml.safe_load(path.read_text())
    found: dict[str, str] = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            found[rule.get("alert") or rule["record"]] = rule["expr"]
    return found


def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def fill_variables(expr: str, rate_interval: str) -> str:
    """The expression as Grafana sends it with every host chosen."""
    for name, value in (
        ("__rate_interval", rate_interval),
        ("__interval", rate_interval),
        ("__range", "1h"),
        ("instance", ".*"),
    ):
        expr = re.sub(rf"\$\{{{name}\}}|\$\[\[{name}\]\]|\${name}\b", value, expr)
    return expr


def dashboard_expressions(rate_interval: str = "1m") -> dict[str, str]:
    """Each query of the dashboard, named by where it is, with its variables filled in:
    panel targets, and the metric a `label_values(metric, label)` variable reads."""
    dashboard = load_dashboard()
    found: dict[str, str] = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                where = f"panel {panel['title']!r} {target['refId']}"
                found[where] = fill_variables(target["expr"], rate_interval)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        matched = _LABEL_VALUES.match(text.strip())
        found[f"variable {variable['name']!r}"] = fill_variables(
            matched.group(1) if matched else text, rate_interval
        )
    return found


def prometheus_problem() -> str | None:
    """Why prometheus and promtool cannot be run here, or None when they can."""
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        return "no prometheus or promtool on PATH (run `scripts/prometheus.sh ensure`)"
    done = subprocess.run(
        ["bash", str(PROMETHEUS_SCRIPT), "check"], capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        return "prometheus or promtool do not run (run `scripts/prometheus.sh ensure`)"
    return None


def require_prometheus() -> None:
    """Skip when Debian's prometheus is not installed; under GITOPS_E2E=require (CI), fail:
    `make test` installs it where it can, so CI cannot pass having checked nothing."""
    problem = prometheus_problem()
    if problem is None:
        return
    if os.environ.get("GITOPS_E2E") == "require":
        pytest.fail(f"GITOPS_E2E=require but {problem}", pytrace=False)
    pytest.skip(problem)
