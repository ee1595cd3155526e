"""From what the actions of a check did to each stack's status, and the tally behind the
metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.stack import Stacks
from gitops_compose.core.reconcile.action import Verb
from gitops_compose.core.reconcile.outcome import Outcome, Tally
from gitops_compose.core.reconcile.plan import Plan
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.reconcile.transition import (
    Deployed,
    DeployFailed,
    Event,
    Found,
    Gone,
    Invalid,
    OldProjectStopFailed,
    OldProjectStopped,
    ProjectTaken,
    Refusal,
    RemovalFailed,
    Removed,
    RolledBack,
    Unmanaged,
    WaitsFor,
    transition,
)


def statuses_after(
    previous: Mapping[str, StackStatus],
    plan: Plan,
    outcomes: Sequence[Outcome],
    desired: Stacks,
    now: float = 0.0,
) -> dict[str, StackStatus]:
    """Each managed stack's status once the outcomes are in, by stack path.

    ``desired`` are the stacks now checked out. What the check read of them, what each
    action did, and what a stack that never started waits for become events (see
    transition), applied in that order to each stack's record at ``now``, the time of the
    check.
    """
    statuses = dict(previous)

    def apply(path: str, event: Event) -> None:
        after = transition(statuses.get(path), event, now)
        if after is None:
            statuses.pop(path, None)
        elif not isinstance(after, Refusal):  # no event of a check is refused
            statuses[path] = after

    for path, event in _read(previous, plan, desired):
        apply(path, event)
    for path, event in _done(plan, outcomes):
        apply(path, event)
    for outcome in outcomes:
        # Never tried: retried when the stack it waited for is, both at once, in order.
        blocker = statuses.get(outcome.blocked_by or "")
        if blocker is not None and blocker.retry_at is not None:
            apply(outcome.action.stack, WaitsFor(blocker.retry_at))
    owners = {stack.project: path for path, stack in desired.valid.items()}
    for path, record in list(statuses.items()):
        if owners.get(record.project or "", path) != path:
            apply(path, ProjectTaken())
    return statuses


def _read(
    previous: Mapping[str, StackStatus], plan: Plan, desired: Stacks
) -> Iterator[tuple[str, Event]]:
    """What the check read of the commit it leaves the host at: stacks valid, invalid,
    gone, or no longer managed (the tool's own and ignored stacks are not on the list)."""
    problems = {problem.stack for problem in plan.problems}
    acted_on = {action.stack for action in plan.stack_actions}
    for path in previous:
        stack = desired.valid.get(path)
        if stack is not None and stack.role is not Role.DEPLOY:
            yield path, Unmanaged()
        elif stack is None and path not in desired.broken and path not in acted_on:
            yield path, Gone()
        elif stack is not None and path not in problems:
            yield path, Found(stack.project, stack.fingerprint, desired.commit)
    for path, stack in desired.valid.items():
        if stack.role is Role.DEPLOY and path not in previous:
            yield path, Found(stack.project, stack.fingerprint, desired.commit)
    for problem in plan.problems:
        yield problem.stack, Invalid(problem.project, problem.reason)


def _done(plan: Plan, outcomes: Sequence[Outcome]) -> Iterator[tuple[str, Event]]:
    """What each action did, in the order the outcomes came in.

    A stop is of a stack's old project when this plan also starts the stack, which runs on
    under the project it is renamed to: the stop's cause says ``Renamed``, or it retries
    the old project's stop, or the removal of a stack now wanted again under a new name.
    A stop of any other stack removes it, whatever its cause says (a stack renamed as it
    became the tool's own or ignored leaves the list).
    """
    starts = {each.stack: each for each in plan.stack_actions if each.verb is not Verb.STOP}
    stuck: set[str] = set()
    for outcome in outcomes:
        action, error = outcome.action, outcome.error
        if action.stack in stuck:
            continue  # its old project still runs: in error under that name, whatever else
        start = starts.get(action.stack) if action.verb is Verb.STOP else None
        event: Event
        if start is not None and error is None:
            event = OldProjectStopped()
        elif start is not None and error is not None:
            event = OldProjectStopFailed(action.project, error, start.fingerprint)
            stuck.add(action.stack)
        elif action.verb is Verb.STOP and error is None:
            event = Removed()
        elif action.verb is Verb.STOP and error is not None:
            event = RemovalFailed(action.project, error, action.fingerprint)
        elif error is None:
            event = Deployed(action.project, action.fingerprint, action.commit, outcome.images)
        elif outcome.rolled_back_to is not None:
            event = RolledBack(action.project, error, action.fingerprint)
        else:
            event = DeployFailed(action.project, error, action.fingerprint)
        yield action.stack, event


def tally(plan: Plan, outcomes: Sequence[Outcome], statuses: Mapping[str, StackStatus]) -> Tally:
    counts = Counter(each.status for each in statuses.values())
    return Tally(
        deployments_ok=sum(1 for each in outcomes if each.ok),
        deployments_failed=sum(1 for each in outcomes if not each.ok),
        active={status: counts.get(status, 0) for status in Status},
        problems=len(plan.problems),
        started=sum(1 for each in outcomes if each.ok and each.action.verb is Verb.START),
        stopped=sum(1 for each in outcomes if each.ok and each.action.verb is Verb.STOP),
        updated=sum(1 for each in outcomes if each.ok and each.action.verb is Verb.RESTART),
    )
