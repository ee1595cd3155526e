"""The events of a check, as a reporter hears them: what happened, in the order it did."""

from __future__ import annotations

from collections.abc import Callable

from gitops_compose.core.reconcile.action import Removed, Verb
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.event import (
    CheckSettled,
    CheckStarted,
    Event,
    FastForwarded,
    GateOpened,
    GatePassed,
    StackFailed,
    StackInvalid,
    StackPlanned,
    StackRecovered,
    StackRemoved,
    StackRolledBack,
    StackSucceeded,
    StatusChanged,
)
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.reconcile.status import Condition, Status
from gitops_compose.shell.check import run_check
from gitops_compose.shell.reporter import Reporter
from tests.core.builders import PARSING

from ..models import INJECTED, ModelHost, ModelRepository

STACK = "services:\n  web:\n    image: busybox\n"
CHANGED = "services:\n  web:\n    image: busybox:2\n"
BROKEN = "services:\n  web: [\n"


class Recorder:
    """A reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def report(self, event: Event) -> None:
        self.events.append(event)


def clocked(host: ModelHost) -> tuple[Callable[[], float], Callable[[float], None]]:
    """A clock that moves only when the loop sleeps, and is the host's; a later check
    begins later."""
    clock = [max(1000.0, host.time + 100.0)]

    def now() -> float:
        host.time = clock[0]
        return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return now, sleep


SETTINGS = CheckSettings(
    "main", "repo", jobs=1, health_timeout=60.0, settle=0.0, rollback=True, parsing=PARSING
)


def checked(
    repo: ModelRepository, host: ModelHost, state: State, reporter: Reporter
) -> CheckReport:
    now, sleep = clocked(host)
    return run_check(repo, host, state, SETTINGS, now=now, sleep=sleep, reporters=(reporter,))


def named(event: Event) -> tuple[str, str]:
    """The event's kind and the stack it is about ('' for the check's own)."""
    action = getattr(event, "action", None)
    stack = action.stack if action is not None else getattr(event, "stack", "")
    return type(event).__name__, stack


def pushed(**more: str) -> tuple[ModelRepository, ModelHost, State]:
    """A host that ran c1 (changed, failing and old), and a push of c2 waiting: new is
    added, changed and failing change, old is removed, and ``more`` files come; failing's
    up will replace its containers and then fail. With the state the first check saved."""
    c1 = {name: STACK for name in ("changed", "failing", "old")}
    c2 = {"new": STACK, "changed": CHANGED, "failing": CHANGED, **more}
    repo = ModelRepository(
        {
            "c1": {f"{name}/compose.yaml": text for name, text in c1.items()},
            "c2": {f"{name}/compose.yaml": text for name, text in c2.items()},
        },
        "c1",
        "c1",
    )
    host = ModelHost(repo)
    first = checked(repo, host, State(), Recorder())
    assert first.ok
    repo.remote = "c2"
    host.failing_half_way = {"failing"}
    return repo, host, first.state


def test_a_push_that_adds_changes_breaks_and_removes_stacks_is_told_in_order() -> None:
    repo, host, state = pushed()
    recorder = Recorder()

    report = checked(repo, host, state, recorder)

    # One job: a stack waiting at its gate holds none, so the next one starts meanwhile.
    assert [named(each) for each in recorder.events] == [
        ("CheckStarted", ""),
        ("StackPlanned", "old"),
        ("StackPlanned", "new"),
        ("StackPlanned", "changed"),
        ("StackPlanned", "failing"),
        ("StackStarted", "old"),
        ("StackRemoved", "old"),
        ("FastForwarded", ""),
        ("StackStarted", "new"),
        ("StackStarted", "changed"),
        ("GateOpened", "new"),
        ("GatePassed", "new"),
        ("StackSucceeded", "new"),
        ("StackStarted", "failing"),
        ("GateOpened", "changed"),
        ("GatePassed", "changed"),
        ("StackSucceeded", "changed"),
        ("StackRolledBack", "failing"),
        ("StatusChanged", "failing"),
        ("StatusChanged", "new"),
        ("StatusChanged", "old"),
        ("CheckSettled", ""),
    ]
    events = recorder.events
    assert isinstance(events[0], CheckStarted)
    planned = [each for each in events if isinstance(each, StackPlanned)]
    assert [(each.action.verb, each.action.reason) for each in planned] == [
        (Verb.STOP, "removed from main"),
        (Verb.START, "new"),
        (Verb.RESTART, "changed: changed/compose.yaml"),
        (Verb.RESTART, "changed: failing/compose.yaml"),
    ]
    assert isinstance(planned[0].action.cause, Removed)
    [moved] = [each for each in events if isinstance(each, FastForwarded)]
    assert (moved.source, moved.target) == ("c1", "c2")
    [removed] = [each for each in events if isinstance(each, StackRemoved)]
    assert (removed.action.project, removed.action.commit) == ("old", "c1")
    [opened, _] = [each for each in events if isinstance(each, GateOpened)]
    assert (opened.health_timeout, opened.settle) == (60.0, 0.0)
    passed = [each for each in events if isinstance(each, GatePassed)]
    assert [each.images for each in passed] == [
        (("web", f"sha256:{repo.stack('c2', 'new').fingerprint}"),),
        (("web", f"sha256:{repo.stack('c2', 'changed').fingerprint}"),),
    ]
    [rolled] = [each for each in events if isinstance(each, StackRolledBack)]
    assert rolled.commit == "c1"
    assert rolled.error == "rolled back to c1: exit 1: dependency failed to start"
    assert rolled.action.commit == "c2"
    changes = {
        each.stack: (each.was, each.became) for each in events if isinstance(each, StatusChanged)
    }
    assert changes == {
        "failing": (Condition.OK, Condition.ERROR),
        "new": (None, Condition.OK),
        "old": (Condition.OK, None),
    }
    settled = events[-1]
    assert isinstance(settled, CheckSettled)
    assert settled.report is report
    assert not settled.ok
    # Each event is stamped with the time the core decided it, never going back.
    times = [each.at for each in events]
    assert times == sorted(times)


def test_a_broken_stack_is_told_and_so_is_its_recovery_and_a_blocked_start() -> None:
    repo = ModelRepository(
        {
            "c1": {"a/compose.yaml": BROKEN, "b/compose.yaml": STACK},
            "c2": {"a/compose.yaml": STACK, "b/compose.yaml": CHANGED},
        },
        "c1",
        "c1",
    )
    host = ModelHost(repo)
    recorder = Recorder()
    first = checked(repo, host, State(), recorder)
    [invalid] = [each for each in recorder.events if isinstance(each, StackInvalid)]
    assert (invalid.stack, invalid.project) == ("a", "a")
    assert first.state.stacks["a"].status is Status.ERROR
    repo.remote = "c2"
    host.failing = {"b"}
    recorder = Recorder()

    checked(repo, host, first.state, recorder)

    [recovered] = [each for each in recorder.events if isinstance(each, StackRecovered)]
    assert (recovered.stack, recovered.was) == ("a", Status.ERROR)
    [succeeded] = [each for each in recorder.events if isinstance(each, StackSucceeded)]
    assert succeeded.action.stack == "a"
    [failed] = [each for each in recorder.events if isinstance(each, StackFailed)]
    assert (failed.action.stack, failed.error, failed.blocked_by) == ("b", INJECTED, None)
    kinds = [type(each).__name__ for each in recorder.events]
    assert kinds.index("StackRecovered") < kinds.index("CheckSettled") == len(kinds) - 1
