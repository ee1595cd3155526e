"""One check as a conversation between the core and the shell, in the manner of h11.

The core says what to look at and which actions may run now; the shell gathers, carries
the actions out (several at once) and reports each outcome back; the core decides what
follows and, at the end, how the check settles: statuses, counters, and what the next
check starts from. The shell decides nothing::

    check = begin(state, settings, now())
    while True:
        check, request = check.next(now())
        match request:
            case LookAtClone(): check = check.clone_seen(...)
            case ReadCommits(commits): check = check.commits_read(...)
            case LookAtHost(): check = check.host_seen(...)
            case LookAtResources(): check = check.resources_seen(...)
            case Planned(plan) | Decided(outcomes): report them
            case Start(actions): start each; later check = check.finished(...)
            case AwaitOutcome(until): wait for one, or until then; check.finished(...)
                (or for an event of the containers watched: check.containers_watched(...))
            case LookAtHealth(projects): check = check.health_seen(..., now())
            case ReadLogs(containers): check = check.logs_read(...)
            case Settled(report): return report

Every value here is immutable: each step returns a new check.

A check that finds nothing new reads no tree and needs no planning code: the modules that
plan, schedule and settle stacks are imported when a check gets that far, so an idle check
does not pay for creating their classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum, auto
from typing import TYPE_CHECKING, TypeAlias, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.state import State, counted, retry_due, troubled
from gitops_compose.core.reconcile.status import StackStatus

if TYPE_CHECKING:
    from gitops_compose.core.compose.compose_file import Resource
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.compose.stack import Stacks
    from gitops_compose.core.reconcile.action import Action, FastForward, Rollback, StackAction
    from gitops_compose.core.reconcile.gate import Failed, Gate, Verdict
    from gitops_compose.core.reconcile.outcome import Outcome, Tally
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.core.reconcile.runtime import Health, HostState
    from gitops_compose.core.reconcile.schedule import Schedule


# --- what the shell tells the core ----------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class Heads:
    local: str
    remote: str
    # Whether the local HEAD is the remote head or one of its ancestors.
    remote_descends: bool


@final
@dataclass(frozen=True, slots=True)
class Clone:
    """The host's clone as the shell found it, the fetch included."""

    # Tracked changes and untracked files git does not ignore.
    dirty: tuple[str, ...]
    # The heads after the fetch; or HEAD not on the followed branch, or the fetch failed.
    fetched: Result[Heads, CheckFailure]


@final
@dataclass(frozen=True, slots=True)
class Moved:
    """What the fast-forward did: None, or why it failed."""

    action: FastForward
    error: str | None = None


@final
@dataclass(frozen=True, slots=True)
class RolledBack:
    """What a rollback did: None, or why it failed too."""

    action: Rollback
    error: str | None = None


Finished: TypeAlias = "Outcome | Moved | RolledBack"


# --- what the core asks of the shell --------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class LookAtClone:
    """Check the branch and the working tree, and fetch."""


@final
@dataclass(frozen=True, slots=True)
class ReadCommits:
    """The snapshots of these commits (see snapshot.contents_needed)."""

    commits: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class LookAtHost:
    """Every Compose project's containers: once before planning, on every check, and once
    more after actions ran, so the statuses say what the host runs at the end."""


@final
@dataclass(frozen=True, slots=True)
class LookAtResources:
    """The host's networks and volumes, by name."""


@final
@dataclass(frozen=True, slots=True)
class Planned:
    """The plan is made; what follows carries it out. Problems are to be reported now."""

    plan: Plan


@final
@dataclass(frozen=True, slots=True)
class Start:
    """Start each of these now; report each result with ``finished``."""

    actions: tuple[Action | Rollback, ...]
    # Whether some of them are Compose commands (not only the fast-forward): before the
    # first of a check, the shell makes sure there is a Compose v2 to run them with.
    compose: bool = True


@final
@dataclass(frozen=True, slots=True)
class AwaitOutcome:
    """Nothing more may start: report the next action that finishes. With ``until`` (Unix
    seconds), stacks wait at their health gate: ask again then, finished or not (when
    ``running`` is false nothing runs: just wait). With ``watching``, the containers of
    these projects are watched: an event of theirs is reported at once, as
    ``containers_watched``."""

    until: float | None = None
    running: bool = True
    watching: tuple[str, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class LookAtHealth:
    """The containers of these Compose projects, inspected: the stacks at their gate."""

    projects: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class LookAtReplaced:
    """The containers of these projects, inspected: whether the failed ``up`` of a change
    replaced some before it failed (then it is rolled back; else nothing changed)."""

    projects: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class ReadLastGood:
    """The snapshots of these commits: what failed stacks last ran well from, to roll back
    to (see last_good_read; a commit the clone no longer has is left out)."""

    commits: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class ReadLogs:
    """The last lines each of these containers wrote: why their stacks failed the gate."""

    containers: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class Decided:
    """Outcomes to report now: actions whose command and health gate are over, and those
    the core gave up without starting them (a dependency failed, or a network or volume
    they need is missing)."""

    outcomes: tuple[Outcome, ...]


@final
@dataclass(frozen=True, slots=True)
class Settled:
    report: CheckReport


Request = (
    LookAtClone
    | ReadCommits
    | LookAtHost
    | LookAtResources
    | Planned
    | Start
    | LookAtHealth
    | LookAtReplaced
    | ReadLastGood
    | ReadLogs
    | AwaitOutcome
    | Decided
    | Settled
)


# --- the check ------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class CheckSettings:
    branch: str
    # What Compose would call a stack at the repository root: the clone directory's name.
    root_name: str
    self_heal: bool = False
    # Compose commands at once.
    jobs: int = 4
    # Plan even when nothing moved, and read the host (the plan command).
    always: bool = False
    # The health gate of every start and restart (a stack's x-gitops may say otherwise);
    # a health timeout of 0 turns it off.
    health_timeout: float = 0.0
    settle: float = 0.0
    # Bring a changed stack that fails back to what last ran well (x-gitops may say no).
    rollback: bool = False


@final
@dataclass(frozen=True, slots=True)
class CheckReport:
    failure: CheckFailure | None
    # What the next check starts from.
    state: State
    heads: Heads | None = None
    plan: Plan | None = None
    outcomes: tuple[Outcome, ...] = ()
    # None when the check touched nothing and settled no status.
    tally: Tally | None = None
    # Actions a stop request left for the next check.
    left: tuple[Action, ...] = ()
    # The commit the clone is at once the check is over.
    head: str | None = None

    @property
    def ok(self) -> bool:
        """The check and every stack operation succeeded, no stack is broken, and every
        managed stack is ok and running at its end (none left in error from earlier)."""
        return (
            self.failure is None
            and (self.tally is None or self.tally.all_ok)
            and not troubled(self.state)
        )


class _Stage(Enum):
    CLONE = auto()
    IDLE = auto()
    COMMITS = auto()
    HOST = auto()
    RESOURCES = auto()
    PLANNED = auto()
    RUNNING = auto()
    # The actions are over: the host is looked at once more, then the check settles.
    AFTER = auto()
    DONE = auto()
    SETTLED = auto()


@final
@dataclass(frozen=True, slots=True)
class Check:
    state: State
    settings: CheckSettings
    # When the check began (Unix seconds): the time retries are measured against.
    began: float
    stage: _Stage = _Stage.CLONE
    heads: Heads | None = None
    local: Stacks | None = None
    remote: Stacks | None = None
    host: HostState | None = None
    # The containers once the actions are over; None when not (yet) seen.
    after: HostState | None = None
    resources: frozenset[Resource] | None = None
    plan: Plan | None = None
    schedule: Schedule | None = None
    outcomes: tuple[Outcome, ...] = ()
    failure: CheckFailure | None = None
    # A stop was asked for: running actions finish, no new one starts.
    stopping: bool = False
    report: CheckReport | None = None
    # Stacks whose command went well, waiting at their health gate; when to look next;
    # and those that failed it, whose containers' last lines are to be read.
    gates: tuple[Gate, ...] = ()
    poll_at: float | None = None
    failed_gates: tuple[Failed, ...] = ()
    # Whether the shell watches the gates' containers (then it says when an event came, and
    # the core looks on events and deadlines, not once per poll), and whether one came.
    watched: bool = False
    stirred: bool = False
    # Outcomes decided since the last request, to be reported (see Decided).
    unreported: tuple[Outcome, ...] = ()
    # Rollbacks to start, and those running; and failed stacks whose last good files are
    # to be read first (action, why, commit).
    rollbacks: tuple[Rollback, ...] = ()
    to_read: tuple[tuple[StackAction, str, str], ...] = ()
    # Changes whose up failed, to look at before deciding on a rollback.
    replacing: tuple[Outcome, ...] = ()
    rolling: int = 0

    # -- the next request ------------------------------------------------------------------

    def next(self, now: float) -> tuple[Check, Request]:
        """What the shell is to do next; ``now`` stamps the check if it settles."""
        if self.failure is not None and self.stage is not _Stage.RUNNING:
            return self._settle(now)
        match self.stage:
            case _Stage.CLONE:
                return self, LookAtClone()
            case _Stage.COMMITS:
                assert self.heads is not None
                commits = dict.fromkeys((self.heads.local, self.heads.remote))
                return self, ReadCommits(tuple(commits))
            case _Stage.HOST:
                return self, LookAtHost()
            case _Stage.RESOURCES:
                return self, LookAtResources()
            case _Stage.PLANNED:
                assert self.plan is not None
                from gitops_compose.core.reconcile.schedule import schedule_of  # noqa: PLC0415

                schedule = schedule_of(self.plan.actions, self.plan.blocked, self.settings.jobs)
                return replace(self, stage=_Stage.RUNNING, schedule=schedule), Planned(self.plan)
            case _Stage.RUNNING:
                return self._run(now)
            case _Stage.AFTER:
                return self, LookAtHost()
            case _Stage.IDLE | _Stage.DONE:
                return self._settle(now)
            case _Stage.SETTLED:
                assert self.report is not None
                return self, Settled(self.report)

    def _run(self, now: float) -> tuple[Check, Request]:
        if self.unreported:
            return replace(self, unreported=()), Decided(self.unreported)
        if self.replacing:
            projects = tuple(dict.fromkeys(each.action.project for each in self.replacing))
            return self, LookAtReplaced(projects)
        if self.to_read:
            return self, ReadLastGood(tuple(dict.fromkeys(each[2] for each in self.to_read)))
        if self.rollbacks:
            started = replace(self, rollbacks=(), rolling=self.rolling + len(self.rollbacks))
            return started, Start(self.rollbacks)
        schedule = self.schedule
        assert schedule is not None
        if self.failed_gates:
            culprits = tuple(dict.fromkeys(f.culprit for f in self.failed_gates if f.culprit))
            if culprits:
                return self, ReadLogs(culprits)
            return self.logs_read({})._run(now)
        if self.stopping and self.gates:
            # What waits at its gate now settles as its command left it: the next check's
            # look at the host tells whether it runs.
            check = self
            for gate in self.gates:
                check = check._gate_decided(gate.action, None)
            return replace(check, gates=())._run(now)
        if not self.stopping:
            schedule, given_up = schedule.given_up()
            if given_up:
                check = replace(self, schedule=schedule, outcomes=(*self.outcomes, *given_up))
                return check, Decided(given_up)
            schedule, startable = schedule.startable()
            if startable:
                from gitops_compose.core.reconcile.action import StackAction  # noqa: PLC0415

                compose = any(isinstance(each, StackAction) for each in startable)
                return replace(self, schedule=schedule), Start(startable, compose)
        if self.gates:
            opened = tuple(
                gate if gate.opened >= 0 else replace(gate, opened=now) for gate in self.gates
            )
            check = replace(self, schedule=schedule, gates=opened)
            running = schedule.busy or bool(self.rolling)
            projects = tuple(dict.fromkeys(gate.action.project for gate in opened))
            if self.watched:
                from gitops_compose.core.reconcile.gate import next_look  # noqa: PLC0415

                look_at: float | None = next_look(opened, now, busy=running, stirred=self.stirred)
            else:
                look_at = self.poll_at
            if look_at is None or now >= look_at:
                return check, LookAtHealth(projects)
            watching = projects if self.watched else ()
            return check, AwaitOutcome(until=look_at, running=running, watching=watching)
        if schedule.busy or self.rolling:
            return self, AwaitOutcome()
        if self.outcomes:
            return replace(self, stage=_Stage.AFTER), LookAtHost()
        return self._settle(now)

    # -- what the shell reports ------------------------------------------------------------

    def clone_seen(self, clone: Clone) -> Check:
        if clone.dirty:
            shown = ", ".join(clone.dirty[:5])
            if len(clone.dirty) > 5:
                shown += f" and {len(clone.dirty) - 5} more"
            return self._failed(
                CheckFailure(
                    f"the working tree has changes not in git: {shown}; commit, remove or "
                    ".gitignore them (gitops-compose never discards them)"
                )
            )
        if isinstance(clone.fetched, Failure):
            return self._failed(clone.fetched.failure())
        heads = clone.fetched.unwrap()
        seen = replace(self, heads=heads)
        if not heads.remote_descends:
            from gitops_compose.core.compose.stack import Stacks  # noqa: PLC0415

            # The plan refuses rewritten history before it looks at any stack: read no tree.
            return seen._planned(Stacks(heads.local, {}, {}), Stacks(heads.remote, {}, {}))
        if not seen._work_to_do():
            # Nothing to plan; the containers are still read, so the statuses say what runs.
            return replace(seen, stage=_Stage.HOST)
        return replace(seen, stage=_Stage.COMMITS)

    def commits_read(self, snapshots: Mapping[str, Snapshot]) -> Check:
        assert self.heads is not None
        from gitops_compose.core.compose.stack import stacks_of  # noqa: PLC0415

        local = stacks_of(snapshots[self.heads.local], self.settings.root_name)
        remote = (
            local
            if self.heads.remote == self.heads.local
            else stacks_of(snapshots[self.heads.remote], self.settings.root_name)
        )
        return replace(self, local=local, remote=remote, stage=_Stage.HOST)

    def host_seen(self, found: Result[HostState, str]) -> Check:
        if self.stage is _Stage.AFTER:
            # Not seeing them now fails nothing: the statuses follow the outcomes instead.
            return replace(self, after=found.value_or(None), stage=_Stage.DONE)
        if isinstance(found, Failure):
            return self._failed(CheckFailure(f"reading the containers failed: {found.failure()}"))
        if self.local is None:
            return replace(self, host=found.unwrap(), stage=_Stage.IDLE)
        assert self.remote is not None
        return replace(self, host=found.unwrap())._planned(self.local, self.remote)

    def resources_seen(self, found: Result[frozenset[Resource], str]) -> Check:
        if isinstance(found, Failure):
            reason = found.failure()
            return self._failed(CheckFailure(f"reading the networks and volumes failed: {reason}"))
        assert self.local is not None
        assert self.remote is not None
        return replace(self, resources=found.unwrap())._planned(self.local, self.remote)

    def finished(self, result: Finished) -> Check:
        assert self.schedule is not None
        if isinstance(result, Moved):
            schedule = self.schedule.settled(result.action, result.error is None)
            failure = None if result.error is None else CheckFailure(result.error)
            return replace(self, schedule=schedule, failure=self.failure or failure)
        if isinstance(result, RolledBack):
            from gitops_compose.core.reconcile.outcome import Outcome  # noqa: PLC0415

            rollback = result.action
            short = rollback.commit[:12]
            if result.error is None:
                error, to = f"rolled back to {short}: {rollback.why}", rollback.commit
            else:
                error = f"{rollback.why}; rolling back to {short} failed too: {result.error}"
                to = None
            check = replace(self, rolling=self.rolling - 1)
            return check._decided(Outcome(rollback.failed, error, rolled_back_to=to))
        if not result.ok and self._rollback_wanted(result.action):
            released = self.schedule.released(result.action)
            return replace(self, schedule=released, replacing=(*self.replacing, result))
        gate = self._gate_of(result)
        if gate is not None:
            return replace(
                self,
                schedule=self.schedule.released(result.action),
                gates=(*self.gates, gate),
                poll_at=None,
            )
        schedule = self.schedule.settled(result.action, result.ok)
        return replace(
            self,
            schedule=schedule,
            outcomes=(*self.outcomes, result),
            unreported=(*self.unreported, result),
        )

    def health_seen(
        self, found: Result[Health, str], now: float, *, watched: bool = False
    ) -> Check:
        """The containers of the stacks at their gate, inspected at ``now``; ``watched``:
        whether the shell watches them from now on (see containers_watched)."""
        from gitops_compose.core.reconcile.gate import Failed, Passed, Waiting, judged, next_poll  # noqa: PLC0415

        check = replace(self, gates=())
        waiting: list[Gate] = []
        failed: list[Failed] = []
        for gate in self.gates:
            if isinstance(found, Failure):
                late = now - gate.opened >= gate.times.health_timeout
                verdict: Verdict = (
                    Failed(gate, f"its containers could not be inspected: {found.failure()}")
                    if late
                    else Waiting(gate)
                )
            else:
                verdict = judged(gate, found.unwrap().get(gate.action.project, ()), now)
            match verdict:
                case Passed(gate=passed):
                    seen = found.value_or({}).get(passed.action.project, ())
                    images = tuple(sorted({(c.service, c.image) for c in seen if c.image}))
                    check = check._gate_decided(passed.action, None, images)
                case Failed() as failure:
                    failed.append(failure)
                case Waiting(gate=still):
                    waiting.append(still)
        gates = tuple(waiting)
        return replace(
            check,
            gates=gates,
            poll_at=next_poll(gates, now) if gates else None,
            failed_gates=(*self.failed_gates, *failed),
            # A look that failed is tried again a poll later, not at once.
            watched=watched and isinstance(found, Success),
            stirred=False,
        )

    def containers_watched(self, live: bool, *, stirred: bool = False) -> Check:
        """Whether the shell watches the containers of the stacks at their gate (from the
        start of a check, before any gate opens, or no longer: the core looks once per poll
        then); ``stirred``: an event of theirs came, so the core looks at once."""
        return replace(self, watched=live, stirred=live and stirred)

    def replaced_seen(self, found: Result[Health, str]) -> Check:
        """Whether the failed changes' ``up`` replaced containers: one created since the
        check began means the stack no longer runs what ran well, so it is rolled back."""
        check = replace(self, replacing=())
        seen = found.value_or({})
        for outcome in self.replacing:
            containers = seen.get(outcome.action.project, ())
            replaced = any(c.created is not None and c.created >= self.began for c in containers)
            if replaced and outcome.error is not None:
                check = check._gate_decided(outcome.action, outcome.error)
            else:
                check = check._decided(outcome)
        return check

    def logs_read(self, logs: Mapping[str, str]) -> Check:
        """The last lines of the containers asked for (those that could be read)."""
        check = replace(self, failed_gates=())
        for failure in self.failed_gates:
            said = logs.get(failure.culprit or "", "")
            reason = f"{failure.reason}; its log: {said}" if said else failure.reason
            check = check._gate_decided(failure.gate.action, reason)
        return check

    def _gate_of(self, result: Outcome) -> Gate | None:
        """The gate a start or restart that went well waits at, unless it is off."""
        from gitops_compose.core.reconcile.action import Verb  # noqa: PLC0415
        from gitops_compose.core.reconcile.gate import Gate, GateTimes  # noqa: PLC0415

        action = result.action
        if not result.ok or action.verb is Verb.STOP or self.remote is None:
            return None
        stack = self.remote.valid.get(action.stack) or (
            self.local.valid.get(action.stack) if self.local is not None else None
        )
        if stack is None:
            return None
        settings = self.settings
        times = GateTimes(
            health_timeout=settings.health_timeout
            if stack.health_timeout is None
            else stack.health_timeout,
            settle=settings.settle if stack.settle is None else stack.settle,
        )
        if times.off:
            return None
        # Opened (timed from) when the core next looks: ``finished`` knows no time.
        awaited = self.schedule is not None and self.schedule.awaits(action)
        return Gate(
            action=action, expects=stack.expectation, times=times, opened=-1.0, awaited=awaited
        )

    def _gate_decided(
        self, action: StackAction, error: str | None, images: tuple[tuple[str, str], ...] = ()
    ) -> Check:
        from gitops_compose.core.reconcile.outcome import Outcome  # noqa: PLC0415

        if error is not None:
            rollback = self._rollback_of(action, error, self.local)
            if isinstance(rollback, str):
                return replace(self, to_read=(*self.to_read, (action, error, rollback)))
            if rollback is not None:
                return replace(self, rollbacks=(*self.rollbacks, rollback))
        return self._decided(Outcome(action, error, images=images))

    def last_good_read(self, snapshots: Mapping[str, Snapshot]) -> Check:
        """The commits asked for by ReadLastGood (those the clone still has)."""
        from gitops_compose.core.compose.stack import stacks_of  # noqa: PLC0415
        from gitops_compose.core.reconcile.action import Rollback  # noqa: PLC0415
        from gitops_compose.core.reconcile.outcome import Outcome  # noqa: PLC0415

        check = replace(self, to_read=())
        for action, why, commit in self.to_read:
            snapshot = snapshots.get(commit)
            stacks = None if snapshot is None else stacks_of(snapshot, self.settings.root_name)
            rollback = None if stacks is None else check._rollback_of(action, why, stacks)
            if isinstance(rollback, Rollback):
                check = replace(check, rollbacks=(*check.rollbacks, rollback))
            else:
                check = check._decided(Outcome(action, why))
        return check

    def _rollback_of(
        self, action: StackAction, why: str, at: Stacks | None
    ) -> Rollback | str | None:
        """How a changed stack that failed gets back to what last ran well: the files it
        was last deployed from, taken from the stacks ``at`` a commit when they are those,
        or else the commit to read them from; None when there is nothing to go back to (a
        new stack) or rollback is off."""
        from gitops_compose.core.reconcile.action import Rollback  # noqa: PLC0415

        record = self.state.stacks.get(action.stack)
        if not self._rollback_wanted(action) or record is None or record.commit is None:
            return None
        before = at.valid.get(action.stack) if at is not None else None
        if before is None or record.fingerprint != before.fingerprint:
            return record.commit if at is None or at.commit != record.commit else None
        return Rollback(
            failed=action,
            why=why,
            commit=record.commit,
            compose_files=before.compose_files,
            files=tuple(sorted(before.files.items())),
            images=record.images,
        )

    def _rollback_wanted(self, action: StackAction) -> bool:
        """A restart of files other than those last deployed well (never deployed from
        here, or the same files: nothing to go back to), with rollback on."""
        from gitops_compose.core.reconcile.action import Verb  # noqa: PLC0415

        record = self.state.stacks.get(action.stack)
        desired = self.remote.valid.get(action.stack) if self.remote is not None else None
        wanted = self.settings.rollback
        if desired is not None and desired.rollback is not None:
            wanted = desired.rollback
        return (
            wanted
            and action.verb is Verb.RESTART
            and record is not None
            and record.commit is not None
            and record.fingerprint not in (None, action.fingerprint)
        )

    def _decided(self, outcome: Outcome) -> Check:
        assert self.schedule is not None
        action = outcome.action
        schedule = self.schedule.settled(action, outcome.ok)
        return replace(
            self,
            schedule=schedule,
            outcomes=(*self.outcomes, outcome),
            unreported=(*self.unreported, outcome),
        )

    def stop(self) -> Check:
        """A stop was asked for (SIGTERM): what runs finishes, nothing new starts."""
        return replace(self, stopping=True)

    # -- decisions -------------------------------------------------------------------------

    def _work_to_do(self) -> bool:
        """Whether to read the trees: the remote moved, this is a full pass, healing is
        asked for, or a failed stack's retry is due."""
        assert self.heads is not None
        state, settings = self.state, self.settings
        return (
            settings.always
            or self.heads.local != self.heads.remote
            or self._full_pass()
            or settings.self_heal
            or retry_due(state.stacks, self.began)
            or any(each.expects is None for each in state.stacks.values())
        )

    def _full_pass(self) -> bool:
        """Whether to start whatever should run and does not: the first check of a state
        (or of a daemon), and the check after one that did not get to its end (killed, or
        stopped), whose actions the state may not know of, even though the clone moved."""
        assert self.heads is not None
        state = self.state
        return not state.full_pass_done or state.settled_commit != self.heads.remote

    def _planned(self, local: Stacks, remote: Stacks) -> Check:
        assert self.heads is not None
        from gitops_compose.core.reconcile.plan import Facts, plan  # noqa: PLC0415

        facts = Facts(
            local=local,
            remote=remote,
            branch=self.settings.branch,
            remote_descends=self.heads.remote_descends,
            host=self.host,
            full_pass=self._full_pass(),
            self_heal=self.settings.self_heal,
            statuses=self.state.stacks,
            now=self.began,
            resources=self.resources,
        )
        planned = plan(facts)
        if isinstance(planned, Failure):
            return self._failed(planned.failure())
        found = planned.unwrap()
        check = replace(self, local=local, remote=remote, plan=found)
        if found.needs_resources:
            return replace(check, stage=_Stage.RESOURCES)
        return replace(check, stage=_Stage.PLANNED)

    def _failed(self, failure: CheckFailure) -> Check:
        return replace(self, failure=failure)

    # -- the end ---------------------------------------------------------------------------

    def _settle(self, now: float) -> tuple[Check, Request]:
        state, heads = self.state, self.heads
        if heads is not None:
            state = replace(state, desired_commit=heads.remote)
        if self.plan is None or self.schedule is None or heads is None:
            # Ended before anything was touched, or nothing to do.
            ok = self.failure is None
            head = None if heads is None else heads.local
            state = replace(state, stacks=self._on_host(state.stacks, None))
            report = CheckReport(self.failure, counted(state, ok, now, None), heads, head=head)
            return self._with(report)
        from gitops_compose.core.compose.compose_file import Role  # noqa: PLC0415
        from gitops_compose.core.reconcile.action import FastForward, StackAction  # noqa: PLC0415
        from gitops_compose.core.reconcile.outcome import statuses_after, tally  # noqa: PLC0415

        schedule = self.schedule
        left = schedule.left()
        failure = self.failure
        if failure is None and left:
            failure = CheckFailure(
                f"stopped before the end; {len(left)} action(s) left for the next check"
            )
        moved = not schedule.fast_forward_failed and not any(
            isinstance(each, FastForward) for each in left
        )
        # Until the fast-forward happened, the host runs what the local HEAD describes.
        assert self.local is not None
        assert self.remote is not None
        desired = self.remote if moved else self.local
        settled = statuses_after(self.state.stacks, self.plan, self.outcomes, desired, self.began)
        for action in left if moved else ():
            # Never tried, though the clone moved on: the stack stays as the state knew it
            # (or unknown), so the next check acts on it.
            if isinstance(action, StackAction):
                before = self.state.stacks.get(action.stack)
                if before is None:
                    settled.pop(action.stack, None)
                else:
                    settled[action.stack] = before
        settled = self._on_host(settled, desired)
        counts = tally(self.plan, self.outcomes, settled)
        after = replace(
            state,
            stacks=settled,
            ignored=sum(1 for each in desired.valid.values() if each.role is Role.IGNORED),
            full_pass_done=state.full_pass_done or failure is None,
            settled_commit=heads.remote if failure is None else state.settled_commit,
        )
        report = CheckReport(
            failure=failure,
            state=counted(after, failure is None, now, counts),
            heads=heads,
            plan=self.plan,
            outcomes=self.outcomes,
            tally=counts,
            left=left,
            head=heads.remote if moved else heads.local,
        )
        return self._with(report)

    def _on_host(
        self, stacks: Mapping[str, StackStatus], desired: Stacks | None
    ) -> dict[str, StackStatus]:
        """Each stack's record with what it should run (as its files, when read, say) and
        whether the host runs it, from the last look at the containers. A stack acted on
        when the host could not be looked at afterwards runs if its action went well."""
        from gitops_compose.core.compose.compose_file import Role  # noqa: PLC0415
        from gitops_compose.core.reconcile.runtime import not_running_reason  # noqa: PLC0415

        host = self.after if self.after is not None else self.host
        acted = (
            {} if self.after is not None else {each.action.stack: each for each in self.outcomes}
        )
        seen: dict[str, StackStatus] = {}
        for path, record in stacks.items():
            stack = desired.valid.get(path) if desired is not None else None
            expects = record.expects
            # What runs is what was deployed: the files read say what that runs when they
            # are those (not after a failed change, or a rollback), or nothing is known yet.
            deployed = record.fingerprint == stack.fingerprint if stack is not None else False
            if stack is not None and stack.role is Role.DEPLOY and (deployed or expects is None):
                expects = stack.expectation
            down = record.down
            if path in acted:
                down = acted[path].error
            elif host is not None and record.project is not None:
                # No expectation yet (a state of an older version): judged by its containers.
                looked = expects or Expectation(includes=True)
                down = not_running_reason(looked, host.get(record.project, ()))
            seen[path] = replace(record, expects=expects, down=down)
        return seen

    def _with(self, report: CheckReport) -> tuple[Check, Request]:
        return replace(self, stage=_Stage.SETTLED, report=report), Settled(report)


def begin(state: State, settings: CheckSettings, now: float) -> Check:
    return Check(state=state, settings=settings, began=now)
