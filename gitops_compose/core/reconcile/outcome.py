"""From what the actions did to each stack's status and the counts behind the metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import final

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.stack import Stacks
from gitops_compose.core.reconcile.action import StackAction, Verb
from gitops_compose.core.reconcile.plan import Plan
from gitops_compose.core.reconcile.retry import next_try
from gitops_compose.core.reconcile.status import StackStatus, Status

__all__ = [
    "Outcome",
    "StackStatus",
    "Status",
    "Tally",
    "statuses_after",
    "tally",
]


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    action: StackAction
    # Compose's own message when the action failed; None when it succeeded.
    error: str | None = None
    # The stack whose failure in this check kept this action from starting: it was never
    # tried, and is retried together with that stack.
    blocked_by: str | None = None
    # The images (ids) by service once it passed its health gate.
    images: tuple[tuple[str, str], ...] = ()
    # The commit it was rolled back to after it failed (the error says why).
    rolled_back_to: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@final
@dataclass(frozen=True, slots=True)
class Tally:
    """One check's contribution to the metrics."""

    deployments_ok: int
    deployments_failed: int
    active: Mapping[Status, int]
    problems: int
    # The operations that succeeded, by what they did (the original's families count them).
    started: int = 0
    stopped: int = 0
    updated: int = 0

    @property
    def all_ok(self) -> bool:
        """Every stack operation succeeded and no stack was found broken."""
        return self.deployments_failed == 0 and self.problems == 0


def statuses_after(
    previous: Mapping[str, StackStatus],
    plan: Plan,
    outcomes: Sequence[Outcome],
    desired: Stacks,
    now: float = 0.0,
) -> dict[str, StackStatus]:
    """Each managed stack's status once the outcomes are in, by stack path.

    ``desired`` are the stacks now checked out. A stack nobody acted on keeps its status;
    one seen for the first time runs as it is (adopted). Stopped stacks leave the list
    unless their stop failed; the tool's own and ignored stacks are not on it. A failure
    schedules the next try (``now`` is the time of the check).
    """
    problems = {problem.stack for problem in plan.problems}
    acted_on = {action.stack for action in plan.stack_actions}
    statuses: dict[str, StackStatus] = {}
    for path, status in previous.items():
        stack = desired.valid.get(path)
        gone = stack is None and path not in desired.broken and path not in acted_on
        if stack is not None and stack.role is not Role.DEPLOY:
            continue
        if gone and status.status is not Status.REMOVAL_FAILED:
            continue  # gone with no stop to wait for (a broken stack's name was unknown)
        if stack is not None and path not in problems and _settled_by_files(status):
            # The file parses again (a revert, a clash resolved), or a stack whose removal
            # failed is back with the files it runs: no error is left.
            fixed = StackStatus(stack.project, Status.OK, None, status.fingerprint, status.commit)
            statuses[path] = fixed
        else:
            statuses[path] = status
    for path, stack in desired.valid.items():
        if stack.role is Role.DEPLOY and path not in statuses:
            statuses[path] = StackStatus(
                stack.project, Status.OK, fingerprint=stack.fingerprint, commit=desired.commit
            )
    for problem in plan.problems:
        before = statuses.get(problem.stack)
        same = before is not None and before.error == problem.reason
        # A file that does not parse hides a declared name; the stack still runs as the
        # project it was deployed as.
        known = before.project if before is not None and before.project else None
        statuses[problem.stack] = StackStatus(
            known or problem.project,
            Status.ERROR,
            problem.reason,
            fingerprint=before.fingerprint if before else None,
            commit=before.commit if before else None,
            error_at=before.error_at if same and before else now,
        )
    # A stop of a stack that the plan also deploys is a rename, not a removal.
    deploys = {each.stack: each for each in plan.stack_actions if each.verb is not Verb.STOP}
    deployed = deploys.keys()
    # Renames whose stop failed: the old project still runs, so the stack stays in error
    # under that name until a retry stops it, whatever the new project did.
    stuck: dict[str, StackStatus] = {}
    for outcome in outcomes:
        action = outcome.action
        before = statuses.get(action.stack)
        if outcome.ok and action.verb is Verb.STOP:
            if action.stack not in deployed:
                statuses.pop(action.stack, None)
        elif outcome.ok:
            statuses[action.stack] = StackStatus(
                action.project,
                Status.OK,
                fingerprint=action.fingerprint,
                commit=action.commit,
                images=outcome.images,
                rollbacks=before.rollbacks if before is not None else 0,
            )
        elif outcome.rolled_back_to is not None and before is not None:
            # Back on what last ran well: the failed files wait for a change or ``retry``.
            statuses[action.stack] = replace(
                before,
                status=Status.ERROR,
                error=outcome.error,
                error_at=now,
                failures=before.failures + 1,
                attempted=action.fingerprint,
                retry_at=None,
                rolled_back_from=action.fingerprint,
                rollbacks=before.rollbacks + 1,
            )
        else:
            removal = action.verb is Verb.STOP and action.stack not in deployed
            statuses[action.stack] = _failed(before, outcome, removal, now)
            if action.verb is Verb.STOP and not removal:
                # Waits, like a failed deployment, for these files' next try.
                attempted = deploys[action.stack].fingerprint
                stuck[action.stack] = replace(statuses[action.stack], attempted=attempted)
    statuses.update(stuck)
    for outcome in outcomes:
        # Retried when the stack it waited for is: both are due at once, in order.
        blocker = statuses.get(outcome.blocked_by or "")
        mine = statuses.get(outcome.action.stack)
        if blocker is not None and mine is not None and blocker.retry_at is not None:
            statuses[outcome.action.stack] = replace(mine, retry_at=blocker.retry_at)
    # A failed removal whose project another stack now uses is over: that stack owns it.
    owners = {stack.project: path for path, stack in desired.valid.items()}
    return {
        path: status
        for path, status in statuses.items()
        if status.status is not Status.REMOVAL_FAILED
        or owners.get(status.project or "", path) == path
    }


def _settled_by_files(status: StackStatus) -> bool:
    """An error found in the files, not a failed action (those wait for a retry); or a
    failed removal, moot once the stack is in the repository again."""
    if status.status is Status.REMOVAL_FAILED:
        return True
    return (
        status.status is Status.ERROR
        and status.retry_at is None
        and status.rolled_back_from is None
    )


def _failed(before: StackStatus | None, outcome: Outcome, removal: bool, now: float) -> StackStatus:
    action = outcome.action
    status = Status.REMOVAL_FAILED if removal else Status.ERROR
    failures = (before.failures if before is not None else 0) + 1
    return StackStatus(
        action.project,
        status,
        outcome.error,
        fingerprint=before.fingerprint if before is not None else None,
        commit=before.commit if before is not None else None,
        error_at=now,
        failures=failures,
        attempted=action.fingerprint,
        retry_at=next_try(failures, now),
        # What ran well before stays known: what a later rollback brings back.
        images=before.images if before is not None else (),
        rollbacks=before.rollbacks if before is not None else 0,
        expects=before.expects if before is not None else None,
    )


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
