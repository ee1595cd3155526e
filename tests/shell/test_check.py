"""The check runner against models of the repository and the host (no git, no Docker)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from returns.result import Failure, Result, Success

from gitops_compose.core.outcome import Outcome, Status
from gitops_compose.core.plan import CheckFailure, StackAction, Verb
from gitops_compose.core.runtime import Container, HostState
from gitops_compose.core.snapshot import Snapshot
from gitops_compose.core.state import State
from gitops_compose.shell.check import CheckReport, Settings, run_check
from gitops_compose.shell.git_repository import Heads

from ..core.builders import read_as_the_shell_does

STACK = "services:\n  web:\n    image: busybox\n"


def blob(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class ModelRepository:
    commits: dict[str, Mapping[str, str]]
    local: str
    remote: str
    dirty: list[str] = field(default_factory=list)
    fast_forward_error: str | None = None
    snapshots_read: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "deploy"

    def check_branch(self) -> Result[None, CheckFailure]:
        return Success(None)

    def dirty_paths(self) -> list[str]:
        return self.dirty

    def fetch(self) -> Result[Heads, CheckFailure]:
        order = list(self.commits)
        descends = order.index(self.local) <= order.index(self.remote)
        return Success(Heads(self.local, self.remote, descends))

    def snapshot(self, commit: str) -> Snapshot:
        self.snapshots_read.append(commit)
        files = self.commits[commit]
        blobs = {path: blob(text) for path, text in files.items()}
        return read_as_the_shell_does(Snapshot(commit=commit, blobs=blobs), files)

    def fast_forward(self, target: str) -> Result[None, str]:
        if self.fast_forward_error is not None:
            return Failure(self.fast_forward_error)
        self.local = target
        return Success(None)


@dataclass
class ModelHost:
    running: dict[str, tuple[Container, ...]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    done: list[tuple[str, str]] = field(default_factory=list)
    looked: int = 0

    def state(self) -> Result[HostState, str]:
        self.looked += 1
        return Success(dict(self.running))

    def carry_out(self, action: StackAction) -> Outcome:
        self.done.append((action.verb.value, action.project))
        if action.project in self.failing:
            return Outcome(action, error="exit 1: boom")
        if action.verb is Verb.STOP:
            self.running.pop(action.project, None)
        else:
            self.running[action.project] = (Container("web", "running"),)
        return Outcome(action)


def check(
    repo: ModelRepository, host: ModelHost, state: State | None = None, now: float = 1000.0
) -> tuple[CheckReport, State]:
    report = run_check(repo, host, state or State(), Settings(branch="main"), now=lambda: now)
    return report, report.state


def test_first_check_starts_what_is_not_running_and_adopts_what_runs() -> None:
    files = {"a/compose.yaml": STACK, "b/compose.yaml": STACK}
    repo = ModelRepository({"c1": files}, "c1", "c1")
    host = ModelHost(running={"a": (Container("web", "running"),)})

    report, memory = check(repo, host)

    assert report.ok
    assert host.done == [("start", "b")]
    assert {path: s.status for path, s in memory.stacks.items()} == {
        "a": Status.OK,
        "b": Status.OK,
    }


def test_unchanged_remote_after_the_first_pass_reads_nothing_and_touches_nothing() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost()
    _, memory = check(repo, host)
    host.done.clear()
    repo.snapshots_read.clear()
    looked = host.looked

    report, _ = check(repo, host, memory)

    assert report.ok
    assert report.plan is None
    assert host.done == []
    assert repo.snapshots_read == []
    assert host.looked == looked


def test_dirty_tree_ends_the_check_before_the_fetch_is_used() -> None:
    repo = ModelRepository(
        {"c1": {"a/compose.yaml": STACK}, "c2": {"b/compose.yaml": STACK}},
        "c1",
        "c2",
        dirty=["a/notes.txt"],
    )
    host = ModelHost()

    report, memory = check(repo, host)

    assert not report.ok
    assert "a/notes.txt" in report.failure.reason
    assert host.done == []
    assert repo.local == "c1"
    assert memory.full_pass_done is False


def test_failed_fast_forward_stops_after_the_removals_and_keeps_the_old_stacks() -> None:
    repo = ModelRepository(
        {
            "c1": {"old/compose.yaml": STACK, "keep/compose.yaml": STACK},
            "c2": {"new/compose.yaml": STACK, "keep/compose.yaml": STACK + "\n"},
        },
        "c1",
        "c2",
        fast_forward_error="disk full",
    )
    host = ModelHost(
        running={"old": (Container("web", "running"),), "keep": (Container("web", "running"),)}
    )
    report, memory = check(repo, host, State(full_pass_done=True))

    assert report.failure.reason == "disk full"
    assert host.done == [("stop", "old")]
    assert set(memory.stacks) == {"keep"}


def test_one_failing_stack_does_not_stop_the_others_and_fails_the_check() -> None:
    files = {"bad/compose.yaml": STACK, "good/compose.yaml": STACK}
    repo = ModelRepository({"c1": {}, "c2": files}, "c1", "c2")
    host = ModelHost(failing={"bad"})

    report, memory = check(repo, host, State(full_pass_done=True))

    assert not report.ok
    assert report.failure is None
    assert sorted(host.done) == [("start", "bad"), ("start", "good")]
    assert memory.stacks["bad"].status is Status.ERROR
    assert memory.stacks["bad"].error == "exit 1: boom"
    assert memory.stacks["good"].status is Status.OK
    assert report.tally.deployments_failed == 1
    assert report.tally.deployments_ok == 1


def test_rewritten_history_reads_no_tree_and_touches_nothing() -> None:
    # The remote moved back to c1: the local HEAD c2 is not one of its ancestors.
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c2", "c1")
    host = ModelHost()

    report, state = check(repo, host, State(full_pass_done=True))

    assert "not an ancestor" in report.failure.reason
    assert repo.snapshots_read == []
    assert host.looked == 0
    assert host.done == []
    assert state.counters.check_error == 1


def test_a_due_retry_alone_runs_the_retry_without_reading_the_containers() -> None:
    files = {"a/compose.yaml": STACK}
    repo = ModelRepository({"c1": {}, "c2": files}, "c1", "c2")
    host = ModelHost(failing={"a"})
    _, failed = check(repo, host, State(full_pass_done=True), now=1000.0)
    host.failing.clear()
    looked = host.looked

    report, state = check(repo, host, failed, now=1000.0 + 61)

    assert report.ok
    assert host.done[-1] == ("start", "a")
    assert host.looked == looked
    assert state.stacks["a"].status is Status.OK
