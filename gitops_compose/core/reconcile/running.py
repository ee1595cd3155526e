"""The running stage of a check: the plan's actions started, watched at their gate, rolled
back when they fail, and decided.

The stage's parts are its fields, asked about in this order by ``_next``: changed stacks
whose failed ``up`` may have replaced containers (``replaced_to_see``), failed stacks whose
last good files are to be read (``last_good_to_read``), rollbacks to start, stacks that
failed their gate whose logs are to be read (``logs_to_read``), then the schedule: what
cannot start, what may start now, and the stacks at their gate (``gates``). When nothing
runs and nothing waits, the check looks at the host once more and settles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.stack import Stacks, contents_needed, stacks_of
from gitops_compose.core.reconcile.action import Rollback, StackAction, Verb
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.conversation import (
    AwaitOutcome,
    Finished,
    Heads,
    LookAtHealth,
    LookAtReplaced,
    Moved,
    ReadLastGood,
    ReadLogs,
    Request,
    RolledBack,
    Start,
)
from gitops_compose.core.reconcile.event import (
    Event,
    FastForwarded,
    GateFailed,
    GateOpened,
    GatePassed,
    StackDecided,
    StackFailed,
    StackRemoved,
    StackRolledBack,
    StackStarted,
    StackSucceeded,
)
from gitops_compose.core.reconcile.gate import (
    Failed,
    Gate,
    GateTimes,
    Passed,
    Verdict,
    Waiting,
    judged,
    next_look,
    next_poll,
)
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.plan import Plan
from gitops_compose.core.reconcile.rollback import rollback_of, rollback_wanted
from gitops_compose.core.reconcile.schedule import Schedule
from gitops_compose.core.reconcile.settling import LookingAfter, Settling
from gitops_compose.core.reconcile.stage import Check
from gitops_compose.core.value import Value, replace

if TYPE_CHECKING:
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.runtime import Health, HostState


@final
class Ground(Value):
    """What a check acts from once it has planned; it holds while the check runs."""

    heads: Heads
    local: Stacks
    remote: Stacks
    # The containers as seen before planning; None when not looked at.
    host: HostState | None
    plan: Plan
    # The stacks the plan starts or restarts: a stop of one of them is a rename, not a
    # removal.
    deploys: frozenset[str]


@final
class LastGood(Value):
    """A failed stack whose files as of ``commit`` are to be read before it rolls back."""

    action: StackAction
    why: str
    commit: str


@final
class Running(Check):
    ground: Ground
    schedule: Schedule
    # What each stack action came to, in the order decided.
    outcomes: tuple[Outcome, ...] = ()
    # The fast-forward failed: nothing after it runs, and the check fails.
    failure: CheckFailure | None = None
    # Stacks whose command went well, waiting at their health gate, and when to look next.
    gates: tuple[Gate, ...] = ()
    poll_at: float | None = None
    # An event of the watched containers came since the last look (see Context.watched).
    stirred: bool = False
    # Stacks that failed their gate, whose containers' last lines are to be read.
    logs_to_read: tuple[Failed, ...] = ()
    # Changes whose up failed, to look at before deciding on a rollback.
    replaced_to_see: tuple[Outcome, ...] = ()
    # Failed stacks whose last good files are to be read before they roll back.
    last_good_to_read: tuple[LastGood, ...] = ()
    # Rollbacks to start, and how many run.
    rollbacks: tuple[Rollback, ...] = ()
    rolling: int = 0

    # -- the next request ------------------------------------------------------------------

    def _next(self, now: float) -> tuple[Check, Request]:
        if self.replaced_to_see:
            projects = tuple(dict.fromkeys(each.action.project for each in self.replaced_to_see))
            return self, LookAtReplaced(projects)
        if self.last_good_to_read:
            commits = tuple(dict.fromkeys(each.commit for each in self.last_good_to_read))
            return self, ReadLastGood(commits)
        if self.rollbacks:
            started = replace(self, rollbacks=(), rolling=self.rolling + len(self.rollbacks))
            return started, Start(self.rollbacks)
        if self.logs_to_read:
            culprits = tuple(dict.fromkeys(f.culprit for f in self.logs_to_read if f.culprit))
            if culprits:
                return self, ReadLogs(culprits)
            return self.logs_read({}, now).next(now)
        schedule = self.schedule
        if self.stopping and self.gates:
            # What waits at its gate now settles as its command left it: the next check's
            # look at the host tells whether it runs.
            check = self
            for gate in self.gates:
                check = check._gate_decided(gate.action, None, now)
            return replace(check, gates=()).next(now)
        if not self.stopping:
            schedule, given_up = schedule.given_up()
            if given_up:
                check = replace(self, schedule=schedule)
                for outcome in given_up:
                    check = check._recorded(outcome, now)
                return check.next(now)
            schedule, startable = schedule.startable()
            if startable:
                stack_actions = [each for each in startable if isinstance(each, StackAction)]
                told = self.context.telling(*(StackStarted(each, now) for each in stack_actions))
                started = replace(self, context=told, schedule=schedule)
                return started, Start(startable, compose=bool(stack_actions))
        if self.gates:
            opened = [gate for gate in self.gates if gate.opened < 0]
            gates = tuple(
                gate if gate.opened >= 0 else replace(gate, opened=now) for gate in self.gates
            )
            check = replace(self, schedule=schedule, gates=gates)
            if opened:
                told = check.context.telling(*(_opened(gate, now) for gate in opened))
                return replace(check, context=told).next(now)
            busy = schedule.busy or bool(self.rolling)
            projects = tuple(dict.fromkeys(gate.action.project for gate in gates))
            look_at = (
                next_look(gates, now, busy=busy, stirred=self.stirred)
                if self.context.watched
                else self.poll_at
            )
            if look_at is None or now >= look_at:
                return check, LookAtHealth(projects)
            watching = projects if self.context.watched else ()
            return check, AwaitOutcome(until=look_at, running=busy, watching=watching)
        if schedule.busy or self.rolling:
            return self, AwaitOutcome()
        if self.outcomes:
            after = LookingAfter(self.context, self.ground, schedule, self.outcomes, self.failure)
            return after.next(now)
        return Settling(self.context, self.ground, schedule, (), self.failure, None).next(now)

    # -- what the shell reports ------------------------------------------------------------

    def finished(self, result: Finished, now: float) -> Check:
        if isinstance(result, Moved):
            ok = result.error is None
            schedule = self.schedule.settled(result.action, ok)
            if result.error is not None:
                failure = self.failure or CheckFailure(result.error)
                return replace(self, schedule=schedule, failure=failure)
            action = result.action
            told = self.context.telling(FastForwarded(action.source, action.target, now))
            return replace(self, context=told, schedule=schedule)
        if isinstance(result, RolledBack):
            rollback = result.action
            short = rollback.commit[:12]
            if result.error is None:
                error, to = f"rolled back to {short}: {rollback.why}", rollback.commit
            else:
                error = f"{rollback.why}; rolling back to {short} failed too: {result.error}"
                to = None
            check = replace(self, rolling=self.rolling - 1)
            return check._decided(Outcome(rollback.failed, error, rolled_back_to=to), now)
        if not result.ok and rollback_wanted(self.context, self.ground.remote, result.action):
            released = self.schedule.released(result.action)
            return replace(self, schedule=released, replaced_to_see=(*self.replaced_to_see, result))
        gate = self._gate_of(result)
        if gate is not None:
            return replace(
                self,
                schedule=self.schedule.released(result.action),
                gates=(*self.gates, gate),
                poll_at=None,
            )
        return self._decided(result, now)

    def health_seen(
        self, found: Result[Health, str], now: float, *, watched: bool = False
    ) -> Check:
        """The containers of the stacks at their gate, inspected at ``now``; ``watched``:
        whether the shell watches them from now on (see containers_watched)."""
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
                    told = check.context.telling(GatePassed(passed.action, images, now))
                    check = replace(check, context=told)._gate_decided(
                        passed.action, None, now, images
                    )
                case Failed() as failure:
                    failed.append(failure)
                    told = check.context.telling(
                        GateFailed(failure.gate.action, failure.reason, failure.culprit, now)
                    )
                    check = replace(check, context=told)
                case Waiting(gate=still):
                    waiting.append(still)
        gates = tuple(waiting)
        return replace(
            check,
            gates=gates,
            poll_at=next_poll(gates, now) if gates else None,
            logs_to_read=(*self.logs_to_read, *failed),
            # A look that failed is tried again a poll later, not at once.
            context=replace(check.context, watched=watched and isinstance(found, Success)),
            stirred=False,
        )

    def containers_watched(self, live: bool, *, stirred: bool = False) -> Check:
        """As Check's; an event of theirs (``stirred``) makes the core look at once."""
        context = replace(self.context, watched=live)
        return replace(self, context=context, stirred=live and stirred)

    def replaced_seen(self, found: Result[Health, str], now: float) -> Check:
        """Whether the failed changes' ``up`` replaced containers: one created since the
        check began means the stack no longer runs what ran well, so it is rolled back."""
        check = replace(self, replaced_to_see=())
        seen = found.value_or({})
        began = self.context.began
        for outcome in self.replaced_to_see:
            containers = seen.get(outcome.action.project, ())
            replaced = any(c.created is not None and c.created >= began for c in containers)
            if replaced and outcome.error is not None:
                check = check._gate_decided(outcome.action, outcome.error, now)
            else:
                check = check._decided(outcome, now)
        return check

    def logs_read(self, logs: Mapping[str, str], now: float) -> Check:
        """The last lines of the containers asked for (those that could be read)."""
        check = replace(self, logs_to_read=())
        for failure in self.logs_to_read:
            said = logs.get(failure.culprit or "", "")
            reason = f"{failure.reason}; its log: {said}" if said else failure.reason
            check = check._gate_decided(failure.gate.action, reason, now)
        return check

    def contents_needed(self, snapshot: Snapshot) -> frozenset[str]:
        settings = self.context.settings
        return contents_needed(snapshot, settings.parsing, settings.scope)

    def last_good_read(self, snapshots: Mapping[str, Snapshot], now: float) -> Check:
        """The commits asked for by ReadLastGood (those the clone still has)."""
        check = replace(self, last_good_to_read=())
        settings = self.context.settings
        root, remote = settings.root_name, self.ground.remote
        for each in self.last_good_to_read:
            snapshot = snapshots.get(each.commit)
            stacks = (
                None
                if snapshot is None
                else stacks_of(snapshot, root, settings.parsing, settings.scope)
            )
            rollback = (
                None
                if stacks is None
                else rollback_of(self.context, remote, each.action, each.why, stacks)
            )
            if isinstance(rollback, Rollback):
                check = replace(check, rollbacks=(*check.rollbacks, rollback))
            else:
                check = check._decided(Outcome(each.action, each.why), now)
        return check

    # -- decisions -------------------------------------------------------------------------

    def _gate_of(self, result: Outcome) -> Gate | None:
        """The gate a start or restart that went well waits at, unless it is off."""
        action = result.action
        if not result.ok or action.verb is Verb.STOP:
            return None
        ground = self.ground
        stack = ground.remote.valid.get(action.stack) or ground.local.valid.get(action.stack)
        if stack is None:
            return None
        settings = self.context.settings
        times = GateTimes(
            health_timeout=settings.health_timeout
            if stack.health_timeout is None
            else stack.health_timeout,
            settle=settings.settle if stack.settle is None else stack.settle,
        )
        if times.off:
            return None
        # Opened (timed from) when the core next looks: ``finished`` knows no time.
        awaited = self.schedule.awaits(action)
        return Gate(
            action=action, expects=stack.expectation, times=times, opened=-1.0, awaited=awaited
        )

    def _gate_decided(
        self,
        action: StackAction,
        error: str | None,
        now: float,
        images: tuple[tuple[str, str], ...] = (),
    ) -> Running:
        if error is not None:
            rollback = rollback_of(
                self.context, self.ground.remote, action, error, self.ground.local
            )
            if isinstance(rollback, str):
                unread = LastGood(action, error, rollback)
                return replace(self, last_good_to_read=(*self.last_good_to_read, unread))
            if rollback is not None:
                return replace(self, rollbacks=(*self.rollbacks, rollback))
        return self._decided(Outcome(action, error, images=images), now)

    def _decided(self, outcome: Outcome, now: float) -> Running:
        """The stack action is over: the schedule frees what comes after it."""
        schedule = self.schedule.settled(outcome.action, outcome.ok)
        return replace(self, schedule=schedule)._recorded(outcome, now)

    def _recorded(self, outcome: Outcome, now: float) -> Running:
        told = self.context.telling(_ended(outcome, self.ground.deploys, now))
        return replace(self, context=told, outcomes=(*self.outcomes, outcome))


def _ended(outcome: Outcome, deploys: frozenset[str], now: float) -> StackDecided:
    """The event that says what an action came to."""
    action = outcome.action
    if outcome.error is None:
        if action.verb is Verb.STOP and action.stack not in deploys:
            return StackRemoved(action, now)
        return StackSucceeded(action, outcome.images, now)
    if outcome.rolled_back_to is not None:
        return StackRolledBack(action, outcome.error, outcome.rolled_back_to, now)
    return StackFailed(action, outcome.error, outcome.blocked_by, now)


def _opened(gate: Gate, now: float) -> Event:
    return GateOpened(gate.action, gate.times.health_timeout, gate.times.settle, now)
