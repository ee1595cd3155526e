"""The check loop against models of the repository and the host (no git, no Docker)."""

from __future__ import annotations

from gitops_compose.core.reconcile.action import Action, FastForward, Rollback, StackAction
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings, Finished
from gitops_compose.core.reconcile.outcome import Outcome, Status
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.core.reconcile.transition import retried
from gitops_compose.shell.check import InlineWorkers, run_check

from ..core.builders import PARSING
from ..models import INJECTED, ModelHost, ModelRepository

STACK = "services:\n  web:\n    image: busybox\n"


def check(
    repo: ModelRepository,
    host: ModelHost,
    state: State | None = None,
    now: float = 1000.0,
    jobs: int = 4,
) -> tuple[CheckReport, State]:
    settings = CheckSettings(branch="main", root_name=repo.name, jobs=jobs, parsing=PARSING)
    report = run_check(repo, host, state or State(), settings, now=lambda: now)
    return report, report.state


def test_first_check_starts_what_is_not_running_and_adopts_what_runs() -> None:
    files = {"a/compose.yaml": STACK, "b/compose.yaml": STACK}
    repo = ModelRepository({"c1": files}, "c1", "c1")
    host = ModelHost(repo, running={"a": (Container("web", "running"),)})

    report, memory = check(repo, host)

    assert report.ok
    assert host.done == [("start", "b")]
    assert {path: s.status for path, s in memory.stacks.items()} == {
        "a": Status.OK,
        "b": Status.OK,
    }


def test_unchanged_remote_after_the_first_pass_reads_no_tree_and_touches_nothing() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost(repo)
    _, memory = check(repo, host)
    host.done.clear()
    repo.snapshots_read.clear()
    looked = host.looked

    report, _ = check(repo, host, memory)

    assert report.ok
    assert report.plan is None
    assert host.done == []
    assert repo.snapshots_read == []
    # One look at the containers, so that the statuses say what runs.
    assert host.looked == looked + 1


def test_a_stack_whose_containers_are_gone_shows_it_and_the_check_is_not_ok() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost(repo)
    _, memory = check(repo, host)
    host.running.clear()  # docker rm -f
    host.done.clear()

    report, state = check(repo, host, memory)

    assert host.done == []  # not started again without --self-heal
    assert state.stacks["a"].condition is Condition.NOT_RUNNING
    assert state.stacks["a"].down == "no containers"
    assert not report.ok
    assert state.counters.check_error == memory.counters.check_error  # the check itself ran

    host.running["a"] = (Container("web", "running"),)  # started by hand
    report, state = check(repo, host, state)
    assert report.ok
    assert state.stacks["a"].condition is Condition.OK


def test_a_container_that_dies_right_after_its_start_is_seen_by_the_same_check() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo, crashing={"a"})

    report, state = check(repo, host, State(full_pass_done=True))

    assert [each.ok for each in report.outcomes] == [True]
    assert state.stacks["a"].condition is Condition.NOT_RUNNING
    assert state.stacks["a"].down == "web exited 1"
    assert not report.ok


def test_a_stack_waiting_for_its_retry_keeps_every_check_from_being_ok() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo, failing={"a"})
    _, failed = check(repo, host, State(full_pass_done=True), now=1000.0)
    host.done.clear()

    report, state = check(repo, host, failed, now=1010.0)

    assert host.done == []  # not due yet
    assert state.stacks["a"].status is Status.ERROR
    assert not report.ok


def test_dirty_tree_ends_the_check_before_the_fetch_is_used() -> None:
    repo = ModelRepository(
        {"c1": {"a/compose.yaml": STACK}, "c2": {"b/compose.yaml": STACK}},
        "c1",
        "c2",
        dirty=["a/notes.txt"],
    )
    host = ModelHost(repo)

    report, memory = check(repo, host)

    assert not report.ok
    assert report.failure is not None
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
        repo,
        running={"old": (Container("web", "running"),), "keep": (Container("web", "running"),)},
    )
    report, memory = check(repo, host, State(full_pass_done=True))

    assert report.failure is not None
    assert report.failure.reason == "disk full"
    assert host.done == [("stop", "old")]
    assert set(memory.stacks) == {"keep"}


def test_one_failing_stack_does_not_stop_the_others_and_fails_the_check() -> None:
    files = {"bad/compose.yaml": STACK, "good/compose.yaml": STACK}
    repo = ModelRepository({"c1": {}, "c2": files}, "c1", "c2")
    host = ModelHost(repo, failing={"bad"})

    report, memory = check(repo, host, State(full_pass_done=True))

    assert not report.ok
    assert report.failure is None
    assert sorted(host.done) == [("start", "bad"), ("start", "good")]
    assert memory.stacks["bad"].status is Status.ERROR
    assert memory.stacks["bad"].error == INJECTED
    assert memory.stacks["good"].status is Status.OK
    assert report.tally is not None
    assert report.tally.deployments_failed == 1
    assert report.tally.deployments_ok == 1


def test_rewritten_history_reads_no_tree_and_touches_nothing() -> None:
    # The remote moved back to c1: the local HEAD c2 is not one of its ancestors.
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c2", "c1")
    host = ModelHost(repo)

    report, state = check(repo, host, State(full_pass_done=True))

    assert report.failure is not None
    assert "not an ancestor" in report.failure.reason
    assert repo.snapshots_read == []
    assert host.looked == 0
    assert host.done == []
    assert state.counters.check_error == 1


def test_a_due_retry_runs_with_no_push_and_the_host_is_read_before_and_after() -> None:
    files = {"a/compose.yaml": STACK}
    repo = ModelRepository({"c1": {}, "c2": files}, "c1", "c2")
    host = ModelHost(repo, failing={"a"})
    _, failed = check(repo, host, State(full_pass_done=True), now=1000.0)
    host.failing.clear()
    looked = host.looked

    report, state = check(repo, host, failed, now=1000.0 + 61)

    assert report.ok
    assert host.done[-1] == ("start", "a")
    assert host.looked == looked + 2
    assert state.stacks["a"].status is Status.OK


# --- order, failures that block, parallel, a stop asked for -----------------------------------

PROXY = (
    "services:\n  proxy:\n    image: busybox\n    networks: [proxy]\n"
    "networks:\n  proxy:\n    name: proxy\n"
)
USER = (
    "services:\n  web:\n    image: busybox\n    networks: [proxy]\n"
    "networks:\n  proxy:\n    external: true\n    name: proxy\n"
)
WITH_PROXY = {
    "reverse_proxy/compose.yaml": PROXY,
    "app/compose.yaml": USER,
    "blog/compose.yaml": USER,
}


def test_stacks_start_after_the_stack_that_creates_their_network() -> None:
    repo = ModelRepository({"c1": {}, "c2": WITH_PROXY}, "c1", "c2")
    host = ModelHost(repo)

    report, _ = check(repo, host, State(full_pass_done=True), jobs=1)

    assert report.ok
    assert host.done == [("start", "reverse_proxy"), ("start", "app"), ("start", "blog")]


def test_a_failed_dependency_keeps_its_users_from_starting_and_they_retry_with_it() -> None:
    repo = ModelRepository({"c1": {}, "c2": WITH_PROXY}, "c1", "c2")
    host = ModelHost(repo, failing={"reverse_proxy"})

    report, state = check(repo, host, State(full_pass_done=True), now=1000.0)

    assert host.done == [("start", "reverse_proxy")]
    for user in ("app", "blog"):
        record = state.stacks[user]
        assert record.status is Status.ERROR
        assert record.error == "waiting for reverse_proxy, which failed"
        assert record.retry_at == state.stacks["reverse_proxy"].retry_at
    assert report.tally is not None
    assert report.tally.deployments_failed == 3

    host.failing.clear()
    report, state = check(repo, host, state, now=1000.0 + 61)

    assert report.ok
    assert host.done[1:] == [("start", "reverse_proxy"), ("start", "app"), ("start", "blog")]
    assert {path: each.status for path, each in state.stacks.items()} == dict.fromkeys(
        ("reverse_proxy", "app", "blog"), Status.OK
    )


def test_a_user_whose_retry_waits_is_retried_as_soon_as_its_dependency_changes() -> None:
    fixed = {**WITH_PROXY, "reverse_proxy/.env": "FIXED=1\n"}
    repo = ModelRepository({"c1": {}, "c2": WITH_PROXY, "c3": fixed}, "c1", "c2")
    host = ModelHost(repo, failing={"reverse_proxy"})
    _, state = check(repo, host, State(full_pass_done=True), now=1000.0)
    host.failing.clear()
    repo.remote = "c3"

    report, state = check(repo, host, state, now=1010.0)

    assert report.ok
    assert host.done[1:] == [("restart", "reverse_proxy"), ("start", "app"), ("start", "blog")]


def test_at_most_jobs_actions_run_at_once_and_the_fast_forward_runs_alone() -> None:
    files = {f"s{n}/compose.yaml": STACK for n in range(6)}
    old = {"gone/compose.yaml": STACK}
    repo = ModelRepository({"c1": old, "c2": files}, "c1", "c2")
    host = ModelHost(repo, running={"gone": (Container("web", "running"),)})
    workers = RecordingWorkers(repo, host)

    report = run_check(
        repo,
        host,
        State(full_pass_done=True),
        CheckSettings(branch="main", root_name=repo.name, jobs=2, parsing=PARSING),
        workers=workers,
    )

    assert report.ok
    assert max(workers.widths) == 2
    # The stop, then the fast-forward alone, then the starts two at a time.
    assert workers.batches[0] == ["stop gone"]
    assert workers.batches[1] == ["fast-forward"]
    assert all("fast-forward" not in batch for batch in workers.batches[2:])
    assert sorted(host.done[1:]) == [("start", f"s{n}") for n in range(6)]


def test_a_stop_request_finishes_what_runs_starts_nothing_and_the_next_check_finishes() -> None:
    files = {f"s{n}/compose.yaml": STACK for n in range(4)}
    repo = ModelRepository({"c1": {}, "c2": files}, "c1", "c2")
    host = ModelHost(repo)
    settings = CheckSettings(branch="main", root_name=repo.name, jobs=1, parsing=PARSING)

    stopped = run_check(
        repo, host, State(full_pass_done=True), settings, stopping=lambda: len(host.done) >= 2
    )

    assert stopped.failure is not None
    assert "left for the next check" in stopped.failure.reason
    assert len(host.done) == 2
    assert repo.local == "c2"  # the fast-forward was done: only the check can finish it

    report = run_check(repo, host, stopped.state, settings)

    assert report.ok
    assert sorted(host.done) == [("start", f"s{n}") for n in range(4)]
    assert set(report.state.stacks) == {f"s{n}" for n in range(4)}


class RecordingWorkers:
    """Runs actions as InlineWorkers does and records what was running at each start."""

    def __init__(self, repo: ModelRepository, host: ModelHost) -> None:
        self._inner = InlineWorkers(repo, host)
        self._running = 0
        self.widths: list[int] = []
        self.batches: list[list[str]] = []
        self._batch: list[str] | None = None

    def start(self, action: Action | Rollback) -> None:
        self._running += 1
        self.widths.append(self._running)
        match action:
            case FastForward():
                name = "fast-forward"
            case Rollback(failed=failed):
                name = f"rollback {failed.stack}"
            case StackAction(verb=verb, stack=stack):
                name = f"{verb.value} {stack}"
        if self._batch is None:
            self._batch = []
            self.batches.append(self._batch)
        self._batch.append(name)
        self._inner.start(action)

    def next_done(self, timeout: float | None = None) -> tuple[Finished, float] | None:
        done = self._inner.next_done(timeout)
        if done is not None:
            self._running -= 1
            self._batch = None
        return done


# --- the health gate ------------------------------------------------------------------------


def gated(
    repo: ModelRepository,
    host: ModelHost,
    state: State,
    settle: float = 10.0,
    rollback: bool = False,
) -> tuple[CheckReport, list[float]]:
    """A check with the health gate on, on a clock that moves only when the loop sleeps."""
    # The host's clock goes on from check to check: a later check begins later.
    clock = [max(1000.0, host.time + 1.0)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    def now() -> float:
        host.time = clock[0]
        return clock[0]

    settings = CheckSettings(
        branch="main",
        root_name=repo.name,
        health_timeout=180.0,
        settle=settle,
        rollback=rollback,
        parsing=PARSING,
    )
    report = run_check(repo, host, state, settings, now=now, sleep=sleep)
    return report, slept


def test_a_started_stack_is_deployed_only_after_its_settle_window() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo)

    report, slept = gated(repo, host, State(full_pass_done=True))

    assert report.ok
    assert [each.ok for each in report.outcomes] == [True]
    assert sum(slept) >= 10.0  # waited out the settle window, polling
    assert host.inspected >= 2


def test_a_stack_whose_container_dies_after_its_start_fails_with_why_and_its_log() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo, crashing={"a"})

    report, _ = gated(repo, host, State(full_pass_done=True))

    [outcome] = report.outcomes
    assert outcome.error == "exited: web exit 1 after 2 s; its log: web: boom"
    record = report.state.stacks["a"]
    assert (record.status, record.error) == (Status.ERROR, outcome.error)
    assert record.retry_at is not None
    assert report.state.counters.deployment_error == 1
    assert not report.ok


def test_an_unhealthy_stack_fails_its_gate() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo, unhealthy={"a": "unhealthy"})

    report, _ = gated(repo, host, State(full_pass_done=True))

    [outcome] = report.outcomes
    assert outcome.error is not None
    assert outcome.error.startswith("unhealthy: web (health check failed 3 times)")


def test_users_of_a_stack_start_only_once_it_passed_its_gate_and_not_if_it_failed() -> None:
    repo = ModelRepository({"c1": {}, "c2": WITH_PROXY}, "c1", "c2")
    host = ModelHost(repo)
    starts: list[tuple[str, float]] = []
    carry_out = host.carry_out

    def timed(action: StackAction) -> Outcome:
        starts.append((action.stack, host.inspected))
        return carry_out(action)

    host.carry_out = timed  # type: ignore[method-assign]
    report, _ = gated(repo, host, State(full_pass_done=True), settle=5.0)
    assert report.ok
    assert starts[0] == ("reverse_proxy", 0)
    assert all(inspected > 0 for stack, inspected in starts[1:])

    failing = ModelHost(repo, crashing={"reverse_proxy"})
    report, _ = gated(repo, failing, State(full_pass_done=True))
    errors = {each.action.stack: each.error for each in report.outcomes}
    assert errors["app"] == "waiting for reverse_proxy, which failed"
    assert failing.done == [("start", "reverse_proxy")]


def test_with_the_gate_off_nothing_is_inspected() -> None:
    repo = ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2")
    host = ModelHost(repo, crashing={"a"})

    report, _ = check(repo, host, State(full_pass_done=True))

    assert host.inspected == 0
    assert [each.ok for each in report.outcomes] == [True]  # as Compose said; status says more


# --- rollback -------------------------------------------------------------------------------

BROKEN_PUSH = "services:\n  web:\n    image: busybox:2\n"


def rolling(
    repo: ModelRepository, host: ModelHost, state: State, rollback: bool = True
) -> CheckReport:
    return gated(repo, host, state, settle=0.0, rollback=rollback)[0]


def test_a_changed_stack_that_fails_its_gate_is_rolled_back_and_not_tried_again() -> None:
    repo = ModelRepository(
        {"c1": {}, "c2": {"a/compose.yaml": STACK}, "c3": {"a/compose.yaml": BROKEN_PUSH}},
        "c1",
        "c2",
    )
    host = ModelHost(repo, crashing_commits={"c3"})
    deployed = rolling(repo, host, State(full_pass_done=True))
    assert deployed.ok
    assert deployed.state.stacks["a"].images == (
        ("web", f"sha256:{repo.stack('c2', 'a').fingerprint}"),
    )
    repo.remote = "c3"

    report = rolling(repo, host, deployed.state)

    assert host.done[-2:] == [("restart", "a"), ("rollback", "a")]
    [outcome] = report.outcomes
    assert outcome.error == "rolled back to c2: exited: web exit 1 after 2 s; its log: web: boom"
    record = report.state.stacks["a"]
    assert (record.status, record.error) == (Status.ERROR, outcome.error)
    assert (record.fingerprint, record.commit) == (repo.stack("c2", "a").fingerprint, "c2")
    assert record.rolled_back_from == repo.stack("c3", "a").fingerprint
    assert record.rollbacks == 1
    assert report.state.counters.deployment_error == 1
    assert host.running["a"] == (Container("web", "running"),)  # what ran before, again
    assert not report.ok

    host.done.clear()
    again = rolling(repo, host, report.state)
    assert host.done == []  # the rolled-back files are not tried again by themselves
    assert again.state.stacks["a"].rolled_back_from is not None

    # `retry a`: tried again, and rolled back again, to the files of c2 read from git
    # (the clone is at c3 now).
    asked = retried(again.state, "a").unwrap()
    repo.snapshots_read.clear()
    retry = rolling(repo, host, asked)
    assert host.done == [("restart", "a"), ("rollback", "a")]
    assert "c2" in repo.snapshots_read
    assert retry.state.stacks["a"].rollbacks == 2
    assert retried(retry.state, "nope").failure() == "no stack nope in the state; see status"

    fixed = {"a/compose.yaml": "services:\n  web:\n    image: busybox:3\n"}
    repo.commits["c4"] = fixed
    repo.remote = "c4"
    healed = rolling(repo, host, retry.state)
    assert healed.ok
    assert healed.state.stacks["a"].status is Status.OK
    assert healed.state.stacks["a"].rollbacks == 2


def test_a_new_stack_or_rollback_off_is_left_as_compose_left_it() -> None:
    repo = ModelRepository(
        {"c1": {}, "c2": {"a/compose.yaml": STACK}, "c3": {"a/compose.yaml": BROKEN_PUSH}},
        "c1",
        "c2",
    )
    host = ModelHost(repo, crashing_commits={"c2"})
    new = rolling(repo, host, State(full_pass_done=True))
    assert [each for each in host.done if each[0] == "rollback"] == []
    assert new.state.stacks["a"].status is Status.ERROR

    host = ModelHost(repo, crashing_commits={"c3"})
    deployed = rolling(repo, ModelHost(repo), State(full_pass_done=True))
    repo.remote = "c3"
    off = rolling(repo, host, deployed.state, rollback=False)
    assert ("rollback", "a") not in host.done
    assert off.state.stacks["a"].rolled_back_from is None


def test_a_rollback_that_fails_itself_names_both_failures() -> None:
    repo = ModelRepository(
        {"c1": {}, "c2": {"a/compose.yaml": STACK}, "c3": {"a/compose.yaml": BROKEN_PUSH}},
        "c1",
        "c2",
    )
    host = ModelHost(repo, crashing_commits={"c3"})
    deployed = rolling(repo, host, State(full_pass_done=True))
    repo.remote = "c3"
    host.rollback_error = "exit 1: no such image"

    report = rolling(repo, host, deployed.state)

    [outcome] = report.outcomes
    assert outcome.error == (
        "exited: web exit 1 after 2 s; its log: web: boom; "
        "rolling back to c2 failed too: exit 1: no such image"
    )
    assert report.state.stacks["a"].rolled_back_from is None  # retried with backoff
    assert report.state.stacks["a"].retry_at is not None


def test_an_up_that_failed_half_way_is_rolled_back_and_one_that_replaced_nothing_is_not() -> None:
    repo = ModelRepository(
        {"c1": {}, "c2": {"a/compose.yaml": STACK}, "c3": {"a/compose.yaml": BROKEN_PUSH}},
        "c1",
        "c2",
    )
    host = ModelHost(repo)
    deployed = rolling(repo, host, State(full_pass_done=True))
    repo.remote = "c3"
    host.failing_half_way.add("a")

    report = rolling(repo, host, deployed.state)

    assert host.done[-2:] == [("restart", "a"), ("rollback", "a")]
    [outcome] = report.outcomes
    assert outcome.error == "rolled back to c2: exit 1: dependency failed to start"
    assert host.running["a"] == (Container("web", "running"),)

    host = ModelHost(repo, running=dict(host.running), failing={"a"})
    again = rolling(repo, host, deployed.state)
    assert ("rollback", "a") not in host.done  # the pull failed: nothing was replaced
    assert again.outcomes[0].error == INJECTED


def test_a_starting_daemon_makes_a_full_pass_whatever_the_state_says() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost(repo)
    _, memory = check(repo, host)
    assert memory.full_pass_done
    host.running.clear()  # stopped by hand, or gone with a reboot
    host.done.clear()

    # --once follows the state: its full pass is done, so a stopped stack is left alone.
    _, left = check(repo, host, memory)
    assert host.done == []

    starting = CheckSettings(
        branch="main", root_name=repo.name, daemon_starting=True, parsing=PARSING
    )
    report = run_check(repo, host, left, starting, now=lambda: 2000.0)
    assert host.done == [("start", "a")]
    assert report.ok
    assert report.state.full_pass_done


def test_a_starting_daemon_whose_check_fails_leaves_the_full_pass_to_do() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": STACK}}, "c1", "c1", dirty=["a/x"])
    host = ModelHost(repo)
    settings = CheckSettings(
        branch="main", root_name=repo.name, daemon_starting=True, parsing=PARSING
    )
    report = run_check(repo, host, State(full_pass_done=True), settings, now=lambda: 1.0)
    assert not report.ok
    assert report.state.full_pass_done is False  # the next check, of any kind, makes one
