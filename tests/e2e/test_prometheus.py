"""The alert rules and the dashboard of contrib/ on a real Prometheus (Debian's), scraping a
real daemon on the real engine while one of its stacks cannot be pulled.

Every PromQL expression of the rules and of the dashboard goes through the query API and
must be accepted, and every metric it names must be among the series scraped from the
daemon. In a copy of the rules with short `for:` durations, the stack-not-ok alert goes
pending, then firing, for the failing stack only; and once the daemon is stopped, the
daemon-down alert fires.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.contrib.promql import (
    NOTIFICATION_RULES,
    RULES,
    dashboard_expressions,
    metric_names,
    require_prometheus,
    rule_expressions,
)

from .harness import MISSING_IMAGE, World, metric_samples, stack_yaml
from .test_reconcile import free_port, running

# Stack paths, and so Compose projects, of this test only.
GOOD = "promalerts-good"
BROKEN = "promalerts-broken"
JOB = "gitops-compose"
# Short enough for a test; long enough for the expressions to be queried while the
# stack-not-ok alert is pending, so that it is seen pending before it fires.
TEST_FOR = {"GitopsComposeStackNotOk": "10s", "GitopsComposeDown": "2s"}

T = TypeVar("T")


@pytest.fixture
def prometheus_binary(engine: str) -> str:
    del engine
    require_prometheus()
    found = shutil.which("prometheus")
    assert found is not None
    return found


def wait_until(look: Callable[[], T | None], seconds: float, what: str) -> T:
    """What ``look`` returns once it is not None; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = look()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.2)


def fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return bytes(reply.read())
    except OSError:
        return None


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path: str) -> Any:
        """The ``data`` of a GET of the HTTP API."""
        with urllib.request.urlopen(f"{self.base}/api/v1/{path}", timeout=10) as reply:
            document = json.load(reply)
        assert document["status"] == "success", document
        return document["data"]

    def query(self, expr: str) -> dict[str, Any]:
        """The whole answer of an instant query, rejected (HTTP 400, 422) or not."""
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                answer: dict[str, Any] = json.load(reply)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
        return answer

    def vector(self, expr: str) -> list[dict[str, str]]:
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        return [sample["metric"] for sample in answer["data"]["result"]]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]


def rules_for_the_test(directory: Path) -> list[Path]:
    """alerts.yml with short `for:` durations, and the notification rule as it is."""
    directory.mkdir()
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in TEST_FOR:
                rule["for"] = TEST_FOR[rule["alert"]]
    copy = directory / RULES.name
    copy.write_text(yaml.safe_dump(document, sort_keys=False))
    notifications = directory / NOTIFICATION_RULES.name
    shutil.copy(NOTIFICATION_RULES, notifications)
    return [copy, notifications]


@contextmanager
def prometheus(binary: str, tmp: Path, target: str) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port, its data in tmp, scraping ``target`` every
    second and evaluating the test copy of the rules every second."""
    rules = rules_for_the_test(tmp / "rules")
    config = tmp / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(each) for each in rules],
                "scrape_configs": [
                    {"job_name": JOB, "static_configs": [{"targets": [target]}]},
                ],
            }
        )
    )
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("w") as written:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=written,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        try:
            server = Prometheus(port)
            wait_until(
                lambda: (
                    True
                    if fetch(f"{server.base}/-/ready") is not None or process.poll() is not None
                    else None
                ),
                30,
                "Prometheus ready",
            )
            assert process.poll() is None, log.read_text()
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@contextmanager
def daemon(world: World, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon, checking every 2 s, its log in a file (a pipe nobody reads would fill)."""
    log = world.tmp / "daemon.log"
    with log.open("wb") as written:
        process = subprocess.Popen(
            [*world.run_command(), "--interval", "2", "--metrics-addr", f"127.0.0.1:{port}"],
            env=world.env(),
            stdout=subprocess.DEVNULL,
            stderr=written,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=60)
    assert "Traceback" not in log.read_text()


def broken_and_good_seen(port: int) -> bool | None:
    body = fetch(f"http://127.0.0.1:{port}/metrics")
    if body is None:
        return None
    found = metric_samples(body.decode())
    broken = f"gitops_stack_status{{project={BROKEN},stack={BROKEN},status=error}}"
    good = f"gitops_stack_status{{project={GOOD},stack={GOOD},status=ok}}"
    return True if found.get(broken) == 1 and found.get(good) == 1 else None


def query_problems(server: Prometheus) -> list[str]:
    """What is wrong with the expressions of the rules and the dashboard on ``server``: one
    line for each Prometheus rejects, and for each that names a metric it has not scraped.
    The notification rule's counter is not served yet (see alerts-notifications.yml), so of
    that rule Prometheus need only accept the expression."""
    scraped = set(server.api("label/__name__/values"))
    expressions = {f"rule {name}": e for name, e in rule_expressions(RULES).items()}
    expressions |= {f"dashboard {where}": e for where, e in dashboard_expressions().items()}
    assert len(expressions) >= 20
    served_later = {f"rule {name}": e for name, e in rule_expressions(NOTIFICATION_RULES).items()}
    problems: list[str] = []
    for where, expr in (expressions | served_later).items():
        answer = server.query(expr)
        if answer["status"] != "success":
            problems.append(f"{where}: rejected: {answer.get('error')}: {expr}")
        names = metric_names(expr)
        if where not in served_later and (not names or names - scraped):
            problems.append(f"{where}: no series {sorted(names - scraped)}: {expr}")
    return problems


class AlertWatch:
    """The states one alert was seen in, in order, on each look."""

    def __init__(self, server: Prometheus, name: str) -> None:
        self.server = server
        self.name = name
        self.states: list[str] = []
        self.labels: list[dict[str, str]] = []

    def look(self, state: str) -> dict[str, Any] | None:
        """The alert once it is in ``state``."""
        for alert in self.server.alerts(self.name):
            self.labels.append(alert["labels"])
            if not self.states or self.states[-1] != alert["state"]:
                self.states.append(alert["state"])
            if alert["state"] == state:
                return alert
        return None


def test_rules_and_dashboard_on_a_real_prometheus_scraping_a_failing_stack(
    world: World, prometheus_binary: str, tmp_path: Path
) -> None:
    world.pusher.write(f"{GOOD}/compose.yaml", stack_yaml())
    world.pusher.write(f"{BROKEN}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push("a stack that runs and one whose image cannot be pulled")
    port = free_port()
    target = f"127.0.0.1:{port}"
    scrape = tmp_path / "prometheus"
    scrape.mkdir()

    with daemon(world, port) as process, prometheus(prometheus_binary, scrape, target) as server:
        wait_until(lambda: broken_and_good_seen(port), 120, "the daemon's first check")
        assert running(world, GOOD)
        not_ok = AlertWatch(server, "GitopsComposeStackNotOk")
        wait_until(lambda: not_ok.look("pending"), 30, "GitopsComposeStackNotOk pending")

        # Every expression is accepted, and reads only series the daemon serves.
        problems = query_problems(server)
        assert not problems, "\n".join(problems)
        # The queries about stacks find both, and the rule finds the failing one only.
        table = dashboard_expressions()["panel 'Stacks' A"]
        assert {(row["stack"], row["status"]) for row in server.vector(table)} == {
            (GOOD, "ok"),
            (BROKEN, "error"),
        }
        rule = rule_expressions(RULES)["GitopsComposeStackNotOk"]
        assert [row["stack"] for row in server.vector(rule)] == [BROKEN]
        # Prometheus evaluates every rule of the copy without an error.
        groups = server.api("rules")["groups"]
        health = {r["name"]: (r["health"], r.get("lastError")) for g in groups for r in g["rules"]}
        assert len(health) == 7
        assert all(each in {("ok", None), ("ok", "")} for each in health.values()), health

        # The stack-not-ok alert, pending so far, fires, with its annotations rendered.
        alert = wait_until(lambda: not_ok.look("firing"), 60, "GitopsComposeStackNotOk firing")
        assert not_ok.states == ["pending", "firing"]
        assert {each["stack"] for each in not_ok.labels} == {BROKEN}
        assert alert["labels"] | {"instance": target, "job": JOB} == alert["labels"]
        assert alert["labels"]["project"] == BROKEN
        assert alert["labels"]["status"] == "error"
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["summary"] == f"Stack {BROKEN} is error, not ok, on {target}"
        assert f"gitops-compose retry {BROKEN}" in alert["annotations"]["runbook"]
        assert not server.alerts("GitopsComposeDown")
        assert not server.alerts("GitopsComposeMetricsAbsent")

        # The daemon stops: Prometheus's `up` for the job goes to 0, and the alert follows.
        process.terminate()
        process.wait(timeout=60)
        down = AlertWatch(server, "GitopsComposeDown")
        alert = wait_until(lambda: down.look("firing"), 30, "GitopsComposeDown firing")
        assert alert["labels"]["instance"] == target
        assert alert["labels"]["severity"] == "critical"
        assert not server.alerts("GitopsComposeMetricsAbsent")
