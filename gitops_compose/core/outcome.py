"""From what the actions did to each stack's status and the counts behind the metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import final

from gitops_compose.core.compose_file import Role
from gitops_compose.core.plan import Plan, StackAction, Verb
from gitops_compose.core.stack import Stacks


class Status(Enum):
    OK = "ok"
    ERROR = "error"
    REMOVAL_FAILED = "removal_failed"


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    action: StackAction
    # Compose's own message when the action failed; None when it succeeded.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@final
@dataclass(frozen=True, slots=True)
class StackStatus:
    project: str | None
    status: Status
    error: str | None = None


@final
@dataclass(frozen=True, slots=True)
class Tally:
    """One check's contribution to the metrics."""

    deployments_ok: int
    deployments_failed: int
    active: Mapping[Status, int]
    problems: int

    @property
    def all_ok(self) -> bool:
        """Every stack operation succeeded and no stack was found broken."""
        return self.deployments_failed == 0 and self.problems == 0


def statuses_after(
    previous: Mapping[str, StackStatus],
    plan: Plan,
    outcomes: Sequence[Outcome],
    desired: Stacks,
) -> dict[str, StackStatus]:
    """Each managed stack's status once the outcomes are in, by stack path.

    ``desired`` are the stacks now checked out. A stack nobody acted on keeps its status;
    one seen for the first time runs as it is (adopted). Stopped stacks leave the list
    unless their stop failed; the tool's own and ignored stacks are not on it.
    """
    statuses = {
        path: status
        for path, status in previous.items()
        if path not in desired.valid or desired.valid[path].role is Role.DEPLOY
    }
    for path, stack in desired.valid.items():
        if stack.role is Role.DEPLOY and path not in statuses:
            statuses[path] = StackStatus(stack.project, Status.OK)
    for problem in plan.problems:
        statuses[problem.stack] = StackStatus(problem.project, Status.ERROR, problem.reason)
    # A stop of a stack that the plan also deploys is a rename, not a removal.
    deployed = {each.stack for each in plan.stack_actions if each.verb is not Verb.STOP}
    for outcome in outcomes:
        action = outcome.action
        if action.verb is Verb.STOP and action.stack in deployed:
            if not outcome.ok:
                statuses[action.stack] = StackStatus(action.project, Status.ERROR, outcome.error)
        elif action.verb is Verb.STOP:
            if outcome.ok:
                statuses.pop(action.stack, None)
            else:
                statuses[action.stack] = StackStatus(
                    action.project, Status.REMOVAL_FAILED, outcome.error
                )
        elif outcome.ok:
            statuses[action.stack] = StackStatus(action.project, Status.OK)
        else:
            statuses[action.stack] = StackStatus(action.project, Status.ERROR, outcome.error)
    return statuses


def tally(plan: Plan, outcomes: Sequence[Outcome], statuses: Mapping[str, StackStatus]) -> Tally:
    counts = Counter(each.status for each in statuses.values())
    return Tally(
        deployments_ok=sum(1 for each in outcomes if each.ok),
        deployments_failed=sum(1 for each in outcomes if not each.ok),
        active={status: counts.get(status, 0) for status in Status},
        problems=len(plan.problems),
    )
