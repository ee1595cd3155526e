"""The alerting rules of contrib/prometheus, read by Debian's promtool: they load, and the
unit tests of alerts_test.yml (each alert quiet, firing, resolved) pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .promql import (
    NOTIFICATION_RULES,
    RULE_TESTS,
    RULES,
    metric_names,
    require_prometheus,
    rule_expressions,
)

# What issue 18 asks alerts for, by alert name.
ALERTS = {
    "GitopsComposeStackNotOk",
    "GitopsComposeStackRolledBack",
    "GitopsComposeChecksFailing",
    "GitopsComposeNoRecentSuccess",
    "GitopsComposeDown",
    "GitopsComposeMetricsAbsent",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    require_prometheus()
    found = shutil.which("promtool")
    assert found is not None
    return found


def run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules(promtool: str) -> None:
    done = run(promtool, "check", "rules", str(RULES), str(NOTIFICATION_RULES), cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout
    assert "SUCCESS: 1 rules found" in done.stdout


def test_each_alert_fires_and_resolves_in_promtools_unit_tests(promtool: str) -> None:
    done = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    tested: dict[str, set[bool]] = {}
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            tested.setdefault(check["alertname"], set()).add(bool(check["exp_alerts"]))
    alerts = set(rule_expressions()) | set(rule_expressions(NOTIFICATION_RULES))
    assert alerts >= ALERTS
    assert {name: {False, True} for name in alerts} == {name: tested.get(name) for name in alerts}


def test_every_alert_says_what_how_bad_and_what_to_do() -> None:
    for path in (RULES, NOTIFICATION_RULES):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
                assert {"summary", "description", "runbook"} <= set(rule["annotations"])


def test_the_contrib_readme_describes_every_alert() -> None:
    described = (RULES.parents[1] / "README.md").read_text()
    alerts = set(rule_expressions()) | set(rule_expressions(NOTIFICATION_RULES))
    assert {name for name in alerts if f"| {name} " not in described} == set()


def test_a_failing_promtool_unit_test_is_seen(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against a rule that fires at once do."""
    for path in (RULES, NOTIFICATION_RULES, RULE_TESTS):
        shutil.copy(path, tmp_path / path.name)
    hasty = tmp_path / RULES.name
    hasty.write_text(hasty.read_text().replace("for: 10m", "for: 1m"))

    done = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)

    assert done.returncode != 0
    assert "GitopsComposeStackNotOk" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('gitops_stack_status{status!="ok"} == 1', {"gitops_stack_status"}),
        ("increase(gitops_stack_rollbacks_total[1h]) > 0", {"gitops_stack_rollbacks_total"}),
        (
            'absent(gitops_build_info) unless on() (up{job="gitops-compose"} == 0)',
            {"gitops_build_info", "up"},
        ),
        ("sum by (status, project) (a_total offset 5m) / ignoring(x) b > 1e3", {"a_total", "b"}),
        (
            'label_replace(c_info, "commit", "$1", "commit", "(.{0,12}).*") > bool d',
            {"c_info", "d"},
        ),
        ("time() - max(e:recorded[5m:1m])", {"e:recorded"}),
    ],
)
def test_the_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
