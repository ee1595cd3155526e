"""The log lines of a check, written by the log reporter from the check's events."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gitops_compose.core.reconcile.check import CheckSettings
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.check import run_check
from gitops_compose.shell.log_reporter import LogReporter
from tests.core.builders import PARSING

from ..models import INJECTED, ModelHost, ModelRepository

STACK = "services:\n  web:\n    image: busybox\n"
BROKEN = "services:\n  web: [\n"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = dict(getattr(record, "fields", {}))
        fields.pop("duration", None)
        self.lines.append((record.levelname.lower(), record.getMessage(), fields))


@pytest.fixture
def lines() -> Iterator[Lines]:
    logger = logging.getLogger("gitops_compose")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_check_logs_its_plan_problems_operations_statuses_and_end(lines: Lines) -> None:
    repo = ModelRepository(
        {
            "c1": {"old/compose.yaml": STACK, "down/compose.yaml": STACK},
            "c2": {"down/compose.yaml": STACK, "bad/compose.yaml": BROKEN, "b/compose.yaml": STACK},
        },
        "c1",
        "c2",
    )
    host = ModelHost(repo, running={"old": (Container("web", "running"),)}, failing={"b"})
    settings = CheckSettings("main", repo.name, jobs=1, parsing=PARSING)
    state = State(full_pass_done=True, settled_commit="c1")

    run_check(repo, host, state, settings, now=lambda: 1000.0, reporters=(LogReporter(),))

    [invalid] = [each for each in lines.lines if each[2].get("action") == "none"]
    assert invalid[:2] == ("error", "stack")
    assert invalid[2]["stack"] == "bad"
    assert str(invalid[2]["error"]).startswith("invalid compose file")
    rest = [each for each in lines.lines if each is not invalid]
    assert rest == [
        (
            "info",
            "stack",
            {
                "stack": "old",
                "project": "old",
                "action": "stop",
                "reason": "removed from main",
                "outcome": "ok",
            },
        ),
        ("info", "fast-forward", {"source": "c1", "target": "c2"}),
        (
            "error",
            "stack",
            {
                "stack": "b",
                "project": "b",
                "action": "start",
                "reason": "new",
                "outcome": "error",
                "error": INJECTED,
            },
        ),
        (
            "info",
            "stack",
            {
                "stack": "down",
                "project": "down",
                "action": "start",
                "reason": "not running: no containers",
                "outcome": "ok",
            },
        ),
        ("info", "status", {"stack": "b", "project": "b", "status": "error", "was": "new"}),
        ("info", "status", {"stack": "bad", "project": "bad", "status": "error", "was": "new"}),
        ("info", "status", {"stack": "down", "project": "down", "status": "ok", "was": "new"}),
        (
            "error",
            "check",
            {
                "outcome": "error",
                "head": "c2",
                "remote": "c2",
                "operations": 3,
                "failed": 1,
                "broken": 1,
                "not_ok": 2,
            },
        ),
    ]


def test_a_stack_found_not_running_is_a_warning_with_why(lines: Lines) -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost(repo)
    settings = CheckSettings("main", repo.name, parsing=PARSING)
    first = run_check(repo, host, State(), settings, now=lambda: 1000.0, reporters=())
    host.running.clear()

    run_check(repo, host, first.state, settings, now=lambda: 1001.0)

    assert lines.lines[0] == (
        "warning",
        "status",
        {
            "stack": "a",
            "project": "a",
            "status": "not_running",
            "was": "ok",
            "why": "no containers",
        },
    )
    assert lines.lines[1][:2] == ("error", "check")
