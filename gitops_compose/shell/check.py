"""The loop that drives one check: it answers what the core asks, and decides nothing.

The core (core/check.py) says what to look at and which actions may run now; this loop
gathers through two small protocols, the repository and the host, starts the actions on
workers (several at once), feeds each outcome back and reports what happened. The same
loop drives the real clone and Docker engine, the models in the unit tests and the
hypothesis state machine; only the workers differ in how results come back.
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, final

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.check import (
    AwaitOutcome,
    Check,
    CheckReport,
    CheckSettings,
    Clone,
    Decided,
    Finished,
    Heads,
    LookAtClone,
    LookAtHealth,
    LookAtHost,
    LookAtReplaced,
    LookAtResources,
    Moved,
    Planned,
    ReadCommits,
    ReadLastGood,
    ReadLogs,
    Request,
    RolledBack,
    Settled,
    Start,
    begin,
)
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.state import State, troubled
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.shell import log

if TYPE_CHECKING:
    from gitops_compose.core.compose.compose_file import Resource
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.action import Action, Rollback, StackAction
    from gitops_compose.core.reconcile.outcome import Outcome
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.core.reconcile.runtime import Health, HostState
    from gitops_compose.core.reconcile.status import StackStatus
    from gitops_compose.shell.container_events import ContainerWatch


class Repository(Protocol):
    @property
    def name(self) -> str: ...
    def check_branch(self) -> Result[None, CheckFailure]: ...
    def dirty_paths(self) -> list[str]: ...
    def fetch(self) -> Result[Heads, CheckFailure]: ...
    def snapshot(self, commit: str) -> Snapshot: ...
    def fast_forward(self, target: str) -> Result[None, str]: ...
    def blobs(self, ids: Sequence[str]) -> Mapping[str, bytes]:
        """File contents by blob id (those the repository has)."""
        ...


class Host(Protocol):
    def compose_problem(self) -> str | None:
        """Why no Compose command can run here, asked before Compose commands start (the
        real host asks Docker once, then remembers)."""
        ...

    def state(self) -> Result[HostState, str]: ...
    def resources(self) -> Result[frozenset[Resource], str]: ...
    def carry_out(self, action: StackAction) -> Outcome: ...
    def roll_back(self, action: Rollback, files: Mapping[str, bytes]) -> str | None:
        """Run the stack from these files (repository path -> content), as the rollback
        says; None, or why it failed."""
        ...

    def health(self, projects: Sequence[str]) -> Result[Health, str]:
        """The containers of these projects, inspected in bulk (for the health gate)."""
        ...

    def logs(self, containers: Sequence[str]) -> Mapping[str, str]:
        """The last lines each container wrote, one line of text each; those it could read."""
        ...


class Workers(Protocol):
    """Carries actions out, several at once; results come back as they finish."""

    def start(self, action: Action | Rollback) -> None: ...
    def next_done(self, timeout: float | None = None) -> tuple[Finished, float] | None:
        """The next result to finish, and how long it took in seconds; blocks, for at most
        ``timeout`` seconds when given (then None)."""
        ...


class ComposeUnavailable(Exception):
    """No Compose v2 to run the first Compose command with; nothing was started."""


def carry_out(repository: Repository, host: Host, action: Action | Rollback) -> Finished:
    from gitops_compose.core.reconcile.action import FastForward, Rollback  # noqa: PLC0415

    if isinstance(action, FastForward):
        moved = repository.fast_forward(action.target)
        return Moved(action, moved.swap().value_or(None))
    if isinstance(action, Rollback):
        found = repository.blobs([blob for _, blob in action.files])
        files = {path: found[blob] for path, blob in action.files if blob in found}
        return RolledBack(action, host.roll_back(action, files))
    return host.carry_out(action)


@final
class ThreadWorkers:
    """Each action on a thread of its own, at most ``jobs`` at once (the core keeps to that
    too); Compose commands are subprocesses, so threads wait, they do not compute."""

    def __init__(
        self, repository: Repository, host: Host, jobs: int, clock: Callable[[], float]
    ) -> None:
        self._repository, self._host, self._clock = repository, host, clock
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="action")
        self._done: queue.SimpleQueue[tuple[Finished, float]] = queue.SimpleQueue()

    def start(self, action: Action | Rollback) -> None:
        self._pool.submit(self._run, action)

    def _run(self, action: Action | Rollback) -> None:
        started = self._clock()
        result: Finished
        try:
            result = carry_out(self._repository, self._host, action)
        except Exception as error:  # a bug must not leave the check waiting for ever
            from gitops_compose.core.reconcile.action import FastForward, Rollback  # noqa: PLC0415
            from gitops_compose.core.reconcile.outcome import Outcome  # noqa: PLC0415

            message = f"internal error: {type(error).__name__}: {error}"
            if isinstance(action, FastForward):
                result = Moved(action, message)
            elif isinstance(action, Rollback):
                result = RolledBack(action, message)
            else:
                result = Outcome(action, message)
        self._done.put((result, self._clock() - started))

    def next_done(self, timeout: float | None = None) -> tuple[Finished, float] | None:
        try:
            return self._done.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@final
class InlineWorkers:
    """Carries each action out when it starts; hands results back in the order ``pick``
    chooses among those waiting (first come by default). For models and tests."""

    def __init__(
        self,
        repository: Repository,
        host: Host,
        pick: Callable[[int], int] = lambda waiting: 0,
    ) -> None:
        self._repository, self._host, self._pick = repository, host, pick
        self._waiting: list[Finished] = []

    def start(self, action: Action | Rollback) -> None:
        self._waiting.append(carry_out(self._repository, self._host, action))

    def next_done(self, timeout: float | None = None) -> tuple[Finished, float] | None:
        if not self._waiting:
            return None
        return self._waiting.pop(self._pick(len(self._waiting))), 0.0


def run_check(
    repository: Repository,
    host: Host,
    state: State,
    settings: CheckSettings,
    *,
    now: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
    workers: Workers | None = None,
    stopping: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    watch: ContainerWatch | None = None,
) -> CheckReport:
    """One check from ``state``; the report holds the state the next check starts from.

    With ``watch``, the containers of the stacks at their health gate are watched while
    some gate is open (and no longer than the check), so the core looks at them when
    something happened or a deadline passed, not once per poll.

    ``stopping`` is asked between steps: once it says yes, running actions finish and no
    new one starts. Raises ComposeUnavailable before the first Compose command when there
    is no Compose v2.
    """
    started = clock()
    own = workers is None
    threads = ThreadWorkers(repository, host, settings.jobs, clock) if own else None
    runner: Workers = threads if threads is not None else workers  # type: ignore[assignment]
    check = begin(state, settings, now())
    if watch is not None:
        # Watched from the first gate on: no look at each gate as it opens.
        check = check.containers_watched(live=True)
    # When each action started (clock), for the duration its log line gives.
    began_at: dict[Action | Rollback, float] = {}
    try:
        while True:
            if stopping() and not check.stopping:
                check = check.stop()
            check, request = check.next(now())
            match request:
                case Settled(report):
                    _log_status_changes(state.stacks, report.state.stacks)
                    return _finish(report, clock() - started)
                case Planned(plan):
                    _log_problems(plan)
                    _log_warnings(plan)
                case Decided(outcomes):
                    for outcome in outcomes:
                        began = began_at.pop(outcome.action, None)
                        _log_outcome(outcome, 0.0 if began is None else clock() - began)
                case Start(actions, compose):
                    problem = host.compose_problem() if compose else None
                    if problem is not None:
                        raise ComposeUnavailable(problem)
                    for action in actions:
                        began_at[action] = clock()
                        runner.start(action)
                case AwaitOutcome() as waiting:
                    check = _await(check, waiting, runner, now, sleep, watch=watch)
                case LookAtHealth(projects):
                    watched = watch is not None and watch.look(projects)
                    check = check.health_seen(host.health(projects), now(), watched=watched)
                case ReadLogs(containers):
                    check = check.logs_read(host.logs(containers))
                case LookAtReplaced(projects):
                    check = check.replaced_seen(host.health(projects))
                case ReadLastGood(commits):
                    check = check.last_good_read(_snapshots(repository, commits))
                case _:
                    check = look(check, request, repository, host)
    finally:
        if watch is not None:
            watch.stop()
        if threads is not None:
            threads.close()


def _snapshots(repository: Repository, commits: Sequence[str]) -> dict[str, Snapshot]:
    """The snapshots of those commits the clone still has (history may have been rewritten
    and collected since)."""
    found: dict[str, Snapshot] = {}
    for commit in commits:
        try:
            found[commit] = repository.snapshot(commit)
        except (KeyError, ValueError):
            continue
    return found


def _await(
    check: Check,
    waiting: AwaitOutcome,
    runner: Workers,
    now: Callable[[], float],
    sleep: Callable[[float], None],
    *,
    watch: ContainerWatch | None = None,
) -> Check:
    """The next action to finish; while stacks wait at their gate, no longer than until the
    core's next look at them (with nothing running, just that long), or an event of their
    containers when they are watched."""
    if watch is not None and waiting.watching:
        return _await_watched(check, waiting, runner, now, watch)
    if watch is not None and waiting.until is None:
        watch.stop()  # no gate is open
    if waiting.until is None:
        done = runner.next_done()
        assert done is not None  # waits for ever
    else:
        left = max(0.0, waiting.until - now())
        done = runner.next_done(timeout=left) if waiting.running else None
        if done is None and not waiting.running:
            sleep(left)
    if done is None:
        return check
    _log_moved(done[0])
    return check.finished(done[0])


# While actions run and containers are watched, how often to see whether an event came;
# and the longest wait before the loop asks again whether to stop.
_EVENT_LATENCY = 0.05
_LONGEST_WAIT = 1.0


def _await_watched(
    check: Check,
    waiting: AwaitOutcome,
    runner: Workers,
    now: Callable[[], float],
    watch: ContainerWatch,
) -> Check:
    """The next action to finish, an event of the containers watched, or the core's next
    look, whichever comes first; a second at most, so a stop is seen as soon as before."""
    until = min(math.inf if waiting.until is None else waiting.until, now() + _LONGEST_WAIT)
    while (left := until - now()) > 0:
        if waiting.running:
            done = runner.next_done(timeout=min(left, _EVENT_LATENCY))
            if done is not None:
                _log_moved(done[0])
                return check.finished(done[0])
            stirred = watch.wait(waiting.watching, 0.0)
        else:
            stirred = watch.wait(waiting.watching, left)
        if stirred or not watch.live:
            return check.containers_watched(watch.live, stirred=stirred)
    return check


def plan_now(
    repository: Repository, host: Host, state: State, settings: CheckSettings, now: float
) -> Result[Plan, CheckFailure]:
    """What a check would do now, from the same conversation, stopped once it is planned."""
    check = begin(state, settings, now)
    while True:
        check, request = check.next(now)
        match request:
            case Planned(plan):
                return Success(plan)
            case Settled(report):
                return Failure(report.failure or CheckFailure("nothing to plan"))
            case _:
                check = look(check, request, repository, host)


def look_at_clone(check: Check, repository: Repository) -> Check:
    """The branch, the working tree and a fetch, as the core asks before anything else."""
    # The fetch never touches the working tree: it is safe whatever the tree holds.
    fetched = repository.check_branch().bind(lambda _: repository.fetch())
    return check.clone_seen(Clone(dirty=tuple(repository.dirty_paths()), fetched=fetched))


def look(check: Check, request: Request, repository: Repository, host: Host) -> Check:
    """Answer what the core asks to look at."""
    match request:
        case LookAtClone():
            return look_at_clone(check, repository)
        case ReadCommits(commits):
            return check.commits_read({each: repository.snapshot(each) for each in commits})
        case LookAtHost():
            return check.host_seen(host.state())
        case LookAtResources():
            return check.resources_seen(host.resources())
    raise AssertionError(f"not a look: {request}")


def _log_problems(plan: Plan) -> None:
    for problem in plan.problems:
        log.event(
            "stack",
            logging.ERROR,
            stack=problem.stack,
            project=problem.project or "-",
            action="none",
            outcome="error",
            error=problem.reason,
        )


def _log_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        link = warning.link
        fields: dict[str, object] = {"link": link.path, "target": link.target}
        if link.via:
            fields |= {"via": ",".join(link.via), "outside": link.outside}
        log.event(
            "link",
            logging.WARNING,
            stack=warning.stack,
            project=warning.project,
            **fields,
            reason=link.reason,
        )


def _log_moved(result: Finished) -> None:
    """The fast-forward, once done; a stack's outcome is logged once the core decides it
    (after its health gate), as Decided."""
    if isinstance(result, Moved) and result.error is None:
        action = result.action
        log.event("fast-forward", source=action.source[:12], target=action.target[:12])


def _log_outcome(outcome: Outcome, seconds: float) -> None:
    action = outcome.action
    fields: dict[str, object] = {
        "stack": action.stack,
        "project": action.project,
        "action": action.verb.value,
        "reason": action.reason,
        "outcome": "ok" if outcome.ok else "error",
        "duration": seconds,
    }
    if outcome.error is not None:
        fields["error"] = outcome.error
    log.event("stack", logging.INFO if outcome.ok else logging.ERROR, **fields)


def _log_status_changes(
    before: Mapping[str, StackStatus], after: Mapping[str, StackStatus]
) -> None:
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old.condition == new.condition:
            continue
        known = new or old
        fields: dict[str, object] = {
            "stack": path,
            "project": (known.project if known is not None else None) or "-",
            "status": new.condition.value if new is not None else "gone",
            "was": old.condition.value if old is not None else "new",
        }
        if new is not None and new.condition is Condition.NOT_RUNNING:
            fields["why"] = new.down
        log.event("status", logging.WARNING if "why" in fields else logging.INFO, **fields)


def _finish(report: CheckReport, seconds: float) -> CheckReport:
    fields: dict[str, object] = {"outcome": "ok" if report.ok else "error"}
    if report.heads is not None and report.head is not None:
        fields |= {"head": report.head[:12], "remote": report.heads.remote[:12]}
    if report.failure is not None:
        fields["error"] = report.failure.reason
    if report.tally is not None:
        fields |= {
            "operations": report.tally.deployments_ok + report.tally.deployments_failed,
            "failed": report.tally.deployments_failed,
            "broken": report.tally.problems,
        }
    # Stacks not ok and running at the end, this check's doing or not: why it is an error.
    unwell = troubled(report.state)
    if unwell:
        fields["not_ok"] = len(unwell)
    fields["duration"] = seconds
    log.event("check", logging.INFO if report.ok else logging.ERROR, **fields)
    return report
