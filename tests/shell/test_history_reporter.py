"""The history a check's events leave for the status page: bounded, newest last, per stack."""

from __future__ import annotations

from gitops_compose.core.reconcile.history import Happening, HistoryEntry, of_stack
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.history_reporter import HistoryReporter

from ..models import ModelHost, ModelRepository
from .test_events import CHANGED, STACK, checked


def test_a_check_leaves_each_stacks_events_in_the_history() -> None:
    repo = ModelRepository(
        {
            "c1": {"good/compose.yaml": STACK, "failing/compose.yaml": STACK},
            "c2": {"good/compose.yaml": STACK, "failing/compose.yaml": CHANGED},
        },
        "c1",
        "c1",
    )
    host = ModelHost(repo)
    old = HistoryEntry("gone", Happening.REMOVED, 1.0, "c0")
    first = HistoryReporter((old,))
    report = checked(repo, host, State(), first)
    assert report.ok
    assert first.history[0] == old
    assert [e.happening for e in of_stack(first.history, "good")] == [
        Happening.SUCCEEDED,
        Happening.STARTED,
        Happening.PLANNED,
    ]
    assert first.last_check is not None
    assert first.last_check.ok

    repo.remote = "c2"
    host.failing_half_way = {"failing"}
    second = HistoryReporter(first.history)
    checked(repo, host, report.state, second)
    newest = of_stack(second.history, "failing")[0]
    assert newest.happening in (Happening.FAILED, Happening.ROLLED_BACK)
    assert newest.commit == "c2"
    assert newest.reason
    assert second.last_check is not None
    assert not second.last_check.ok


def test_the_history_keeps_only_the_last_200_events() -> None:
    reporter = HistoryReporter(
        tuple(HistoryEntry("s", Happening.STARTED, float(n), "c") for n in range(200))
    )
    repo = ModelRepository({"c1": {"new/compose.yaml": STACK}}, "c1", "c1")
    checked(repo, ModelHost(repo), State(), reporter)
    assert len(reporter.history) == 200
    assert reporter.history[-1].stack == "new"
    assert reporter.history[0].at > 0.0
