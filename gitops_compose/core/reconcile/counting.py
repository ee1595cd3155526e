"""The state's counters as a reporter of the event stream: a pure fold over a check's events.

``counted_by(counting, event)`` is all there is to it. Each stack action's end
(``StackSucceeded``, ``StackRemoved``, ``StackFailed``, ``StackRolledBack``) and each stack
found invalid (``StackInvalid``) is heard as the check goes; ``CheckSettled`` adds them,
with the check itself, to the counters, stamped with the time it settled. So the counters
move once per check, and only by what its events say.

The core folds the events as it tells them (``Context.telling``) and puts the counters
into the state it settles with (``counters_after``: the same step ``CheckSettled`` is folded
by), so the saved state, the metrics that show it and a fold of the recorded stream agree.
"""

from __future__ import annotations

from typing import final

from gitops_compose.core.reconcile.event import (
    CheckSettled,
    Event,
    StackFailed,
    StackInvalid,
    StackRemoved,
    StackRolledBack,
    StackSucceeded,
)
from gitops_compose.core.reconcile.state import Counters
from gitops_compose.core.reconcile.verb import Verb
from gitops_compose.core.value import Value, field, replace


@final
class Heard(Value):
    """What the events of a check not settled yet add to the counters."""

    # Stack actions that went well, and by what they did.
    succeeded: int = 0
    started: int = 0
    stopped: int = 0
    updated: int = 0
    # Stack actions that failed (rolled back or not), and stacks found invalid.
    failed: int = 0
    invalid: int = 0


@final
class Counting(Value):
    """The counters as of the last check settled, and what the current one's events add."""

    counters: Counters
    heard: Heard = field(default_factory=Heard)


def counted_by(counting: Counting, event: Event) -> Counting:
    """The counting once ``event`` is heard; events that count nothing leave it as it is."""
    heard = counting.heard
    match event:
        case StackSucceeded(action=action) | StackRemoved(action=action):
            verb = action.verb
            return replace(
                counting,
                heard=replace(
                    heard,
                    succeeded=heard.succeeded + 1,
                    started=heard.started + (verb is Verb.START),
                    stopped=heard.stopped + (verb is Verb.STOP),
                    updated=heard.updated + (verb is Verb.RESTART),
                ),
            )
        case StackFailed() | StackRolledBack():
            return replace(counting, heard=replace(heard, failed=heard.failed + 1))
        case StackInvalid():
            return replace(counting, heard=replace(heard, invalid=heard.invalid + 1))
        case CheckSettled(report=report, at=at):
            return Counting(counters_after(counting, did_all=report.failure is None, at=at))
        case _:
            return counting


def counters_after(counting: Counting, *, did_all: bool, at: float) -> Counters:
    """The counters once the check is over at ``at``: ``did_all`` when it did all it had to
    (no check failure), with what its events added."""
    before, heard = counting.counters, counting.heard
    return replace(
        before,
        check_success=before.check_success + did_all,
        check_error=before.check_error + (not did_all),
        last_check=at,
        last_success=at if did_all else before.last_success,
        last_error=before.last_error if did_all else at,
        deployment_success=before.deployment_success + heard.succeeded,
        deployment_error=before.deployment_error + heard.failed,
        deployment_started=before.deployment_started + heard.started,
        deployment_stopped=before.deployment_stopped + heard.stopped,
        deployment_updated=before.deployment_updated + heard.updated,
        deployment_invalid=before.deployment_invalid + heard.invalid,
        last_deployment_success=at if heard.succeeded else before.last_deployment_success,
        last_deployment_error=at if heard.failed else before.last_deployment_error,
    )
