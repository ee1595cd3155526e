"""The loop that drives one check: it answers what the core asks, and decides nothing.

The core (core/reconcile/check.py) says what to look at and which actions may run now;
this loop gathers through two small protocols, the repository and the host, starts the
actions on workers (several at once), feeds each outcome back, and hands each event the
core tells to its reporters (see reporter): the log lines are one of them. The same loop
drives the real clone and Docker engine, the models in the unit tests and the hypothesis
state machine; only the workers differ in how results come back.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, final

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.action import Action, FastForward, Rollback, StackAction
from gitops_compose.core.reconcile.check import (
    AwaitOutcome,
    Check,
    CheckReport,
    CheckSettings,
    Clone,
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
    Report,
    Request,
    RolledBack,
    Settled,
    Start,
    begin,
)
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.conversation import (
    AskRegistry,
    LookAtConfig,
    LookAtDigests,
    LookAtImages,
)
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.value import replace
from gitops_compose.shell.log_reporter import LogReporter
from gitops_compose.shell.reporter import Reporter

if TYPE_CHECKING:
    from gitops_compose.core.compose.resource import Resource
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.configuration import ConfigQuestion
    from gitops_compose.core.reconcile.image import RunningImages
    from gitops_compose.core.reconcile.image_update import ImageTag
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.core.reconcile.runtime import Health, HostState
    from gitops_compose.shell.container_events import ContainerWatch


class Repository(Protocol):
    @property
    def name(self) -> str: ...
    def check_branch(self) -> Result[None, CheckFailure]: ...
    def dirty_paths(self) -> list[str]: ...
    def fetch(self) -> Result[Heads, CheckFailure]: ...
    def snapshot(self, commit: str) -> Snapshot:
        """Every file of a commit by blob id; contents it holds already, or none (the
        loop reads what the check needs: see read_commit)."""
        ...

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
    def config(self, question: ConfigQuestion) -> Result[Mapping[str, str], str]:
        """A stack's configuration hashes, service by service (see configuration)."""
        ...

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

    def running_images(self, projects: Sequence[str]) -> Result[RunningImages, str]:
        """The image each service of these projects runs: its id and repository digests."""
        ...

    def image_digests(self, images: Sequence[str]) -> Result[Mapping[str, tuple[str, ...]], str]:
        """The repository digests Docker recorded for these images, by id."""
        ...


class Registry(Protocol):
    """Where images come from: the digest each tag points at (see shell/registry)."""

    def digests(self, tags: Sequence[ImageTag]) -> Mapping[ImageTag, Result[str, str]]: ...


@final
class NoRegistry:
    """For a check that asks no registry (no image is followed): a reason for each tag."""

    def digests(self, tags: Sequence[ImageTag]) -> Mapping[ImageTag, Result[str, str]]:
        return {tag: Failure("no registry client") for tag in tags}


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
    """Each action on a thread of its own, at most ``jobs`` at once (the core starts no
    more, and a semaphore holds any other to that); Compose commands are subprocesses, so
    threads wait, they do not compute. No pool: a check that starts nothing starts no
    thread, and one thread per action costs nothing beside its Compose command."""

    def __init__(
        self, repository: Repository, host: Host, jobs: int, clock: Callable[[], float]
    ) -> None:
        self._repository, self._host, self._clock = repository, host, clock
        self._slots = threading.BoundedSemaphore(max(1, jobs))
        self._threads: list[threading.Thread] = []
        self._done: queue.SimpleQueue[tuple[Finished, float]] = queue.SimpleQueue()

    def start(self, action: Action | Rollback) -> None:
        name = f"action-{len(self._threads)}"
        thread = threading.Thread(target=self._run, args=(action,), name=name)
        self._threads.append(thread)
        thread.start()

    def _run(self, action: Action | Rollback) -> None:
        with self._slots:
            self._carry_out(action)

    def _carry_out(self, action: Action | Rollback) -> None:
        started = self._clock()
        result: Finished
        try:
            result = carry_out(self._repository, self._host, action)
        except Exception as error:  # a bug must not leave the check waiting for ever
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
        """Waits for every action started (a stopping check lets them finish)."""
        for thread in self._threads:
            thread.join()


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
    reporters: Sequence[Reporter] | None = None,
    watch: ContainerWatch | None = None,
    registry: Registry | None = None,
) -> CheckReport:
    """One check from ``state``; the report holds the state the next check starts from.

    Each event the core tells is handed to every one of ``reporters``, in order (None:
    the log lines alone). With ``watch``, the containers of the stacks at their health gate
    are watched while some gate is open (and no longer than the check), so the core looks
    at them when something happened or a deadline passed, not once per poll.
    ``stopping`` is asked between steps: once it says yes, running actions finish and no
    new one starts. Raises ComposeUnavailable before the first Compose command when there
    is no Compose v2.
    """
    hearing = (LogReporter(),) if reporters is None else tuple(reporters)
    own = workers is None
    threads = ThreadWorkers(repository, host, settings.jobs, clock) if own else None
    runner: Workers = threads if threads is not None else workers  # type: ignore[assignment]
    check = begin(state, settings, now())
    if watch is not None:
        # Watched from the first gate on: no look at each gate as it opens.
        check = check.containers_watched(live=True)
    try:
        while True:
            if stopping() and not check.stopping:
                check = check.stop()
            check, request = check.next(now())
            match request:
                case Settled(report):
                    return report
                case Report(events):
                    for event in events:
                        for reporter in hearing:
                            reporter.report(event)
                case Planned():
                    pass  # told as events; the plan command stops here (plan_now)
                case Start(actions, compose):
                    problem = host.compose_problem() if compose else None
                    if problem is not None:
                        raise ComposeUnavailable(problem)
                    for action in actions:
                        runner.start(action)
                case AwaitOutcome() as waiting:
                    check = _await(check, waiting, runner, now, sleep, watch=watch)
                case LookAtHealth(projects):
                    watched = watch is not None and watch.look(projects)
                    check = check.health_seen(host.health(projects), now(), watched=watched)
                case ReadLogs(containers):
                    check = check.logs_read(host.logs(containers), now())
                case LookAtReplaced(projects):
                    check = check.replaced_seen(host.health(projects), now())
                case ReadLastGood(commits):
                    check = check.last_good_read(_snapshots(repository, check, commits), now())
                case AskRegistry(tags):
                    check = check.registry_seen((registry or NoRegistry()).digests(tags), now())
                case _:
                    check = look(check, request, repository, host)
    finally:
        if watch is not None:
            watch.stop()
        if threads is not None:
            threads.close()


def _snapshots(repository: Repository, check: Check, commits: Sequence[str]) -> dict[str, Snapshot]:
    """The snapshots of those commits the clone still has (history may have been rewritten
    and collected since)."""
    found: dict[str, Snapshot] = {}
    for commit in commits:
        try:
            found[commit] = read_commit(repository, commit, check.contents_needed)
        except (KeyError, ValueError):
            continue
    return found


def read_commit(
    repository: Repository, commit: str, needed: Callable[[Snapshot], frozenset[str]]
) -> Snapshot:
    """A commit's files, with the contents a check reads: round after round, what
    ``needed`` names (a check's stage says it: see Check.contents_needed)."""
    snapshot = repository.snapshot(commit)
    while paths := needed(snapshot):
        ids = [snapshot.blobs[each] for each in paths]
        read = repository.blobs(ids)
        missing = [each for each in ids if each not in read]
        if missing:
            raise KeyError(f"blobs of {commit[:12]} not in the clone: {', '.join(missing)}")
        snapshot = replace(snapshot, contents={**snapshot.contents, **read})
    return snapshot


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
    return check.finished(done[0], now())


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
                return check.finished(done[0], now())
            stirred = watch.wait(waiting.watching, 0.0)
        else:
            stirred = watch.wait(waiting.watching, left)
        if stirred or not watch.live:
            return check.containers_watched(watch.live, stirred=stirred)
    return check


def plan_now(
    repository: Repository,
    host: Host,
    state: State,
    settings: CheckSettings,
    now: float,
    *,
    registry: Registry | None = None,
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
            case Report():
                pass
            case AskRegistry(tags):
                check = check.registry_seen((registry or NoRegistry()).digests(tags), now)
            case _:
                check = look(check, request, repository, host)


def clone_of(repository: Repository) -> Clone:
    """The branch, the working tree and a fetch, as the core asks before anything else."""
    # The fetch never touches the working tree: it is safe whatever the tree holds.
    fetched = repository.check_branch().bind(lambda _: repository.fetch())
    return Clone(dirty=tuple(repository.dirty_paths()), fetched=fetched)


def look(check: Check, request: Request, repository: Repository, host: Host) -> Check:
    """Answer what the core asks to look at."""
    match request:
        case LookAtClone():
            return check.clone_seen(clone_of(repository))
        case ReadCommits(commits):
            needed = check.contents_needed
            return check.commits_read(
                {each: read_commit(repository, each, needed) for each in commits}
            )
        case LookAtHost():
            return check.host_seen(host.state())
        case LookAtResources():
            return check.resources_seen(host.resources())
        case LookAtConfig(stacks):
            return check.config_seen({each.stack: host.config(each) for each in stacks})
        case LookAtImages(projects):
            return check.images_seen(host.running_images(projects))
        case LookAtDigests(images):
            return check.digests_seen(host.image_digests(images))
    raise AssertionError(f"not a look: {request}")
