"""What a check's events call for telling: once per reason, cleared by a recovery."""

from __future__ import annotations

from gitops_compose.core.reconcile.action import New, Phase, StackAction, Verb
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.conversation import CheckReport
from gitops_compose.core.reconcile.event import (
    CheckSettled,
    Event,
    StackFailed,
    StackRecovered,
    StackRolledBack,
    StackSucceeded,
)
from gitops_compose.core.reconcile.notice import CHECK, Level, NotifyOn, decide
from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json
from gitops_compose.core.reconcile.status import Status

COMMIT = "0123456789abcdef0123"


def start(stack: str) -> StackAction:
    return StackAction(Verb.START, Phase.ADD, stack, stack, ("compose.yaml",), COMMIT, "f", New())


def settled(failure: str | None = None) -> CheckSettled:
    report = CheckReport(CheckFailure(failure) if failure else None, State(), head=COMMIT)
    return CheckSettled(report, began=0.0, at=1.0)


def test_a_stack_failing_for_the_same_reason_is_told_once_and_its_recovery_clears_it() -> None:
    failed: list[Event] = [StackFailed(start("web"), "pull failed", None, 1.0), settled()]
    told, memory = decide(failed, {}, "h1", NotifyOn.FAILURES)
    assert [(n.level, n.title) for n in told] == [(Level.FAILURE, "h1: stack web failed")]
    assert "pull failed" in told[0].body
    assert COMMIT[:12] in told[0].body
    again, memory = decide(failed, memory, "h1", NotifyOn.FAILURES)
    assert again == ()
    recovered: list[Event] = [StackRecovered("web", "web", Status.ERROR, 2.0), settled()]
    told, memory = decide(recovered, memory, "h1", NotifyOn.FAILURES)
    assert [n.level for n in told] == [Level.SUCCESS]
    assert memory == {}
    told, _ = decide(failed, memory, "h1", NotifyOn.FAILURES)
    assert len(told) == 1


def test_a_new_reason_is_told_and_a_rollback_is_a_warning_cut_short() -> None:
    memory = {"web": "pull failed"}
    log = "x" * 5000
    told, memory = decide(
        [StackRolledBack(start("web"), f"rolled back to abc: crashed; its log: {log}", "abc", 1)],
        memory,
        "h1",
        NotifyOn.FAILURES,
    )
    [notice] = told
    assert notice.level is Level.WARNING
    assert "rolled back" in notice.title
    assert len(notice.body) < 1000


def test_a_failing_check_is_told_once_then_its_recovery() -> None:
    told, memory = decide([settled("fetch failed")], {}, "h1", NotifyOn.FAILURES)
    assert [n.level for n in told] == [Level.FAILURE]
    assert memory == {CHECK: "fetch failed"}
    assert decide([settled("fetch failed")], memory, "h1", NotifyOn.FAILURES)[0] == ()
    told, memory = decide([settled()], memory, "h1", NotifyOn.FAILURES)
    assert [n.level for n in told] == [Level.SUCCESS]
    assert memory == {}
    assert decide([settled()], memory, "h1", NotifyOn.FAILURES)[0] == ()


def test_changes_add_one_summary_per_check_that_changed_something() -> None:
    events: list[Event] = [
        StackSucceeded(start("web"), (), 1.0),
        StackSucceeded(start("db"), (), 1.0),
        settled(),
    ]
    assert decide(events, {}, "h1", NotifyOn.FAILURES)[0] == ()
    [summary] = decide(events, {}, "h1", NotifyOn.CHANGES)[0]
    assert summary.level is Level.INFO
    assert "start web; start db" in summary.body


def test_the_memory_survives_the_state_file_and_old_files_read_without_it() -> None:
    state = State(notified={"web": "pull failed", CHECK: "fetch failed"})
    assert state_from_json(state_to_json(state)).unwrap().notified == state.notified
    assert state_from_json('{"version": 1}').unwrap().notified == {}
    assert "malformed" in state_from_json('{"version": 1, "notified": []}').failure()
