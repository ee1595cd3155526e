"""How a stack's status changes: every transition in one table.

Everything that changes a managed stack's status record lives here, in the manner of h11's
``_state.py``. A check turns what it read and what its actions did into events, one stack
at a time (see verdict.statuses_after), and ``gitops.pyz retry`` is one more event. What
becomes of a record is looked up in ``TRANSITIONS`` by its status (None: no record yet) and
the event's kind; the answer is a ``Change``, one of a few named ways a record changes, or
a ``Refusal``. No other module builds a status record from an event. (An action a stopped
check never started is no event: its stack keeps the record it had, see check.)

When a failed stack is tried again is retry's to say; this module only sets the time.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, ClassVar, final

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.retry import next_try
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.value import Value, replace

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.state import State

__all__ = [
    "TRANSITIONS",
    "Change",
    "DeployFailed",
    "Deployed",
    "Event",
    "EventKind",
    "Found",
    "Gone",
    "Invalid",
    "OldProjectStopFailed",
    "OldProjectStopped",
    "ProjectTaken",
    "Refusal",
    "RemovalFailed",
    "Removed",
    "RetryAsked",
    "RolledBack",
    "Unmanaged",
    "WaitsFor",
    "retried",
    "transition",
]


class EventKind(Enum):
    """What happened to a stack, as far as its status goes."""

    # What the check read of the commit it leaves the host at.
    FOUND = "found"
    INVALID = "invalid"
    UNMANAGED = "unmanaged"
    GONE = "gone"
    # What its actions did.
    DEPLOYED = "deployed"
    DEPLOY_FAILED = "deploy failed"
    ROLLED_BACK = "rolled back"
    REMOVED = "removed"
    REMOVAL_FAILED = "removal failed"
    OLD_PROJECT_STOPPED = "old project stopped"
    OLD_PROJECT_STOP_FAILED = "old project stop failed"
    WAITS_FOR = "waits for"
    # What the check found once all was done.
    PROJECT_TAKEN = "project taken"
    # What a person asked for.
    RETRY_ASKED = "retry asked"


# --- the events -------------------------------------------------------------------------


@final
class Found(Value):
    """Its files in the commit are valid and it is deployed from them."""

    project: str
    fingerprint: str
    commit: str
    kind: ClassVar[EventKind] = EventKind.FOUND


@final
class Invalid(Value):
    """Its files cannot be deployed (they do not parse, a clash, a cycle): ``reason``."""

    project: str | None
    reason: str
    kind: ClassVar[EventKind] = EventKind.INVALID


@final
class Unmanaged(Value):
    """It became the tool's own stack, or is labelled ``gitops.ignore``."""

    kind: ClassVar[EventKind] = EventKind.UNMANAGED


@final
class Gone(Value):
    """It left the commit, and nothing was stopped for it (its name was never known, or
    its stop waits for a retry)."""

    kind: ClassVar[EventKind] = EventKind.GONE


@final
class Deployed(Value):
    """Started or restarted, and through its health gate: ``images`` by service."""

    project: str
    fingerprint: str
    commit: str
    images: tuple[tuple[str, str], ...] = ()
    kind: ClassVar[EventKind] = EventKind.DEPLOYED


@final
class DeployFailed(Value):
    """A start or restart of the ``attempted`` files failed, or never started because a
    stack it needs failed."""

    project: str
    error: str
    attempted: str
    kind: ClassVar[EventKind] = EventKind.DEPLOY_FAILED


@final
class RolledBack(Value):
    """A restart of the ``attempted`` files failed, and the stack is back on what last ran
    well (``error`` says why and to which commit)."""

    project: str
    error: str
    attempted: str
    kind: ClassVar[EventKind] = EventKind.ROLLED_BACK


@final
class Removed(Value):
    """Stopped for good: removed from the branch, or no longer managed."""

    kind: ClassVar[EventKind] = EventKind.REMOVED


@final
class RemovalFailed(Value):
    project: str
    error: str
    attempted: str
    kind: ClassVar[EventKind] = EventKind.REMOVAL_FAILED


@final
class OldProjectStopped(Value):
    """The old project of a stack that runs on under a new name was stopped; what the new
    one did is its own event."""

    kind: ClassVar[EventKind] = EventKind.OLD_PROJECT_STOPPED


@final
class OldProjectStopFailed(Value):
    """The old project still runs: the stack stays in error under that name, whatever the
    new one did, until a retry stops it; then the ``attempted`` files are tried again."""

    project: str
    error: str
    attempted: str
    kind: ClassVar[EventKind] = EventKind.OLD_PROJECT_STOP_FAILED


@final
class WaitsFor(Value):
    """It never started because a stack it needs failed: it is retried together with that
    stack, at ``retry_at``."""

    retry_at: float
    kind: ClassVar[EventKind] = EventKind.WAITS_FOR


@final
class ProjectTaken(Value):
    """Another stack of the commit now runs under its project name."""

    kind: ClassVar[EventKind] = EventKind.PROJECT_TAKEN


@final
class RetryAsked(Value):
    """``gitops.pyz retry STACK``: try a failed or rolled-back stack at the next check."""

    kind: ClassVar[EventKind] = EventKind.RETRY_ASKED


Event = (
    Found
    | Invalid
    | Unmanaged
    | Gone
    | Deployed
    | DeployFailed
    | RolledBack
    | Removed
    | RemovalFailed
    | OldProjectStopped
    | OldProjectStopFailed
    | WaitsFor
    | ProjectTaken
    | RetryAsked
)

# A failure of one of these kinds is counted, and its files wait for their next try.
FAILURES = frozenset(
    {
        EventKind.DEPLOY_FAILED,
        EventKind.ROLLED_BACK,
        EventKind.REMOVAL_FAILED,
        EventKind.OLD_PROJECT_STOP_FAILED,
    }
)


# --- the table --------------------------------------------------------------------------


class Change(Enum):
    """How a record changes."""

    KEEP = "keeps its record (or still has none)"
    DROP = "leaves the list"
    ADOPT = "runs as it is: ok, as found"
    SETTLE = "ok again, on what was last deployed: no error is left"
    # An error found in the files is over once they are valid; a failed action's is not
    # (it waits for its retry), nor a rollback's (for a change or ``retry``).
    SETTLE_FILES_ERROR = "ok again if its error was in its files, else kept"
    INVALIDATE = "in error: its files; nothing is tried until they change"
    DEPLOY = "ok: deployed"
    FAIL = "in error: counted, and tried again later"
    FAIL_REMOVAL = "removal failed: counted, and stopped again later"
    ROLL_BACK = "in error, on what last ran well: those files wait for a change or retry"
    WAIT_WITH = "tried again when the stack it waits for is"
    RETRY_NOW = "tried again at the next check"


class Refusal(Enum):
    """A pair of status and event that changes nothing, and why."""

    NOT_IN_STATE = "no such stack in the state"
    NOTHING_TO_RETRY = "the stack is ok: there is nothing to retry"


_EVERY = (None, Status.OK, Status.ERROR, Status.REMOVAL_FAILED)
_OK, _ERROR, _REMOVAL_FAILED = Status.OK, Status.ERROR, Status.REMOVAL_FAILED


def _alike(kind: EventKind, change: Change) -> dict[tuple[Status | None, EventKind], Change]:
    return {(status, kind): change for status in _EVERY}


TRANSITIONS: dict[tuple[Status | None, EventKind], Change | Refusal] = {
    (None, EventKind.FOUND): Change.ADOPT,
    (_OK, EventKind.FOUND): Change.KEEP,
    (_ERROR, EventKind.FOUND): Change.SETTLE_FILES_ERROR,
    (_REMOVAL_FAILED, EventKind.FOUND): Change.SETTLE,  # back in the repository
    **_alike(EventKind.INVALID, Change.INVALIDATE),
    **_alike(EventKind.UNMANAGED, Change.DROP),
    (None, EventKind.GONE): Change.KEEP,
    (_OK, EventKind.GONE): Change.DROP,
    (_ERROR, EventKind.GONE): Change.DROP,
    (_REMOVAL_FAILED, EventKind.GONE): Change.KEEP,  # its stop is still to be retried
    **_alike(EventKind.DEPLOYED, Change.DEPLOY),
    **_alike(EventKind.DEPLOY_FAILED, Change.FAIL),
    (None, EventKind.ROLLED_BACK): Change.FAIL,  # no record of what ran: a plain failure
    (_OK, EventKind.ROLLED_BACK): Change.ROLL_BACK,
    (_ERROR, EventKind.ROLLED_BACK): Change.ROLL_BACK,
    (_REMOVAL_FAILED, EventKind.ROLLED_BACK): Change.ROLL_BACK,
    **_alike(EventKind.REMOVED, Change.DROP),
    **_alike(EventKind.REMOVAL_FAILED, Change.FAIL_REMOVAL),
    **_alike(EventKind.OLD_PROJECT_STOPPED, Change.KEEP),
    **_alike(EventKind.OLD_PROJECT_STOP_FAILED, Change.FAIL),
    (None, EventKind.WAITS_FOR): Change.KEEP,
    (_OK, EventKind.WAITS_FOR): Change.WAIT_WITH,
    (_ERROR, EventKind.WAITS_FOR): Change.WAIT_WITH,
    (_REMOVAL_FAILED, EventKind.WAITS_FOR): Change.WAIT_WITH,
    (None, EventKind.PROJECT_TAKEN): Change.KEEP,
    (_OK, EventKind.PROJECT_TAKEN): Change.KEEP,
    (_ERROR, EventKind.PROJECT_TAKEN): Change.KEEP,
    (_REMOVAL_FAILED, EventKind.PROJECT_TAKEN): Change.DROP,  # that stack owns it now
    (None, EventKind.RETRY_ASKED): Refusal.NOT_IN_STATE,
    (_OK, EventKind.RETRY_ASKED): Refusal.NOTHING_TO_RETRY,
    (_ERROR, EventKind.RETRY_ASKED): Change.RETRY_NOW,
    (_REMOVAL_FAILED, EventKind.RETRY_ASKED): Change.RETRY_NOW,
}


def transition(
    record: StackStatus | None, event: Event, now: float
) -> StackStatus | Refusal | None:
    """The record after ``event`` at ``now`` (Unix seconds): None when the stack leaves the
    list (or still has none), or why the event changes nothing."""
    change = TRANSITIONS[(record.status if record is not None else None, event.kind)]
    if isinstance(change, Refusal):
        return change
    return _changed(change, record, event, now)


def _changed(
    change: Change, record: StackStatus | None, event: Event, now: float
) -> StackStatus | None:
    match change, event:
        case Change.KEEP, _:
            return record
        case Change.DROP, _:
            return None
        case Change.ADOPT, Found():
            return StackStatus(
                event.project, Status.OK, fingerprint=event.fingerprint, commit=event.commit
            )
        case Change.SETTLE, Found():
            return _settled(record, event)
        case Change.SETTLE_FILES_ERROR, Found():
            action_failed = record is not None and (
                record.retry_at is not None or record.rolled_back_from is not None
            )
            return record if action_failed else _settled(record, event)
        case Change.INVALIDATE, Invalid():
            same = record is not None and record.error == event.reason
            return StackStatus(
                # A file that does not parse hides a declared name; the stack still runs as
                # the project it was deployed as.
                (record.project if record is not None else None) or event.project,
                Status.ERROR,
                event.reason,
                fingerprint=record.fingerprint if record is not None else None,
                commit=record.commit if record is not None else None,
                error_at=record.error_at if same and record is not None else now,
            )
        case Change.DEPLOY, Deployed():
            return StackStatus(
                event.project,
                Status.OK,
                fingerprint=event.fingerprint,
                commit=event.commit,
                images=event.images,
                rollbacks=record.rollbacks if record is not None else 0,
            )
        case Change.FAIL, DeployFailed() | RolledBack() | OldProjectStopFailed():
            return _failed(record, Status.ERROR, event, now)
        case Change.FAIL_REMOVAL, RemovalFailed():
            return _failed(record, Status.REMOVAL_FAILED, event, now)
        case Change.ROLL_BACK, RolledBack() if record is not None:
            return replace(
                record,
                status=Status.ERROR,
                error=event.error,
                error_at=now,
                failures=record.failures + 1,
                attempted=event.attempted,
                retry_at=None,
                rolled_back_from=event.attempted,
                rollbacks=record.rollbacks + 1,
            )
        case Change.WAIT_WITH, WaitsFor() if record is not None:
            return replace(record, retry_at=event.retry_at)
        case Change.RETRY_NOW, RetryAsked() if record is not None:
            return replace(record, rolled_back_from=None, retry_at=0.0)
    # Only a table that names a change for an event it cannot apply to gets here; the
    # tests try every pair (tests/core/test_transitions.py).
    raise ValueError(f"no transition {change.name} for {event.kind.value}")


def _settled(record: StackStatus | None, found: Found) -> StackStatus:
    return StackStatus(
        found.project,
        Status.OK,
        None,
        record.fingerprint if record is not None else None,
        record.commit if record is not None else None,
    )


def _failed(
    record: StackStatus | None,
    status: Status,
    event: DeployFailed | RolledBack | OldProjectStopFailed | RemovalFailed,
    now: float,
) -> StackStatus:
    failures = (record.failures if record is not None else 0) + 1
    return StackStatus(
        event.project,
        status,
        event.error,
        fingerprint=record.fingerprint if record is not None else None,
        commit=record.commit if record is not None else None,
        error_at=now,
        failures=failures,
        attempted=event.attempted,
        retry_at=next_try(failures, now),
        # What ran well before stays known: what a later rollback brings back.
        images=record.images if record is not None else (),
        digests=record.digests if record is not None else (),
        rollbacks=record.rollbacks if record is not None else 0,
        expects=record.expects if record is not None else None,
    )


def retried(state: State, path: str) -> Result[State, str]:
    """The state with one failed or rolled-back stack due for a try at the next check
    (``gitops.pyz retry STACK``), or why there is none to retry."""
    match transition(state.stacks.get(path), RetryAsked(), 0.0):
        case StackStatus() as again:
            return Success(replace(state, stacks={**state.stacks, path: again}))
        case Refusal.NOTHING_TO_RETRY:
            return Failure(f"stack {path} is ok: there is nothing to retry")
        case _:
            return Failure(f"no stack {path} in the state; see status")
