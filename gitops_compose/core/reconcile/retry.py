"""When a failed stack is tried again: the one home of retry.

A failed deployment, or a failed stop, is tried again after 1, 2, 4 ... minutes, at most
every half hour (``retry_delay``, ``next_try``), with the same files; new files are tried
at once. A stack that waits for its try is held (``held``, ``held_back``): the plan leaves
it alone until then, unless a stack it needs is acted on (``released_with_dependency``),
and a check with nothing else to do plans when one is due (``retry_due``). A deployment
that was rolled back is never tried again unasked: only its files' next change, or
``gitops.pyz retry`` (see transition, ``RetryAsked``), tries it again. Each try says what
it tries again (``Retried``: ``deploy_retry``, ``stop_retry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from gitops_compose.core.reconcile.status import StackStatus, Status

__all__ = [
    "FIRST_RETRY_SECONDS",
    "LONGEST_RETRY_SECONDS",
    "Retried",
    "deploy_retry",
    "held",
    "held_back",
    "next_try",
    "released_with_dependency",
    "retry_delay",
    "retry_due",
    "stop_retry",
]


class Retried(Enum):
    """What failed before and is tried again."""

    DEPLOYMENT = "after error"
    REVIVAL = "after removal"  # a stack whose removal failed is wanted again
    REMOVAL = "removal"
    OLD_PROJECT = "stopping the old project"


# A failed stack is tried again after 1, 2, 4 ... minutes, at most every half hour.
FIRST_RETRY_SECONDS = 60.0
LONGEST_RETRY_SECONDS = 1800.0

# 60 s doubled 5 times is past the half hour already.
_MOST_DOUBLINGS = 16


def retry_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row, for any count: the
    doubling stops long before a float would overflow."""
    doublings = min(max(0, failures - 1), _MOST_DOUBLINGS)
    return min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0**doublings)


def next_try(failures: int, now: float) -> float:
    """When a stack that failed ``failures`` times in a row, the last at ``now``, is tried
    again (Unix seconds)."""
    return now + retry_delay(failures)


def retry_due(stacks: Mapping[str, StackStatus], now: float) -> bool:
    """Whether a failed stack's next try has come, which makes a check plan even with no push."""
    return any(each.retry_at is not None and each.retry_at <= now for each in stacks.values())


def held(record: StackStatus, fingerprint: str, now: float) -> bool:
    """Whether a failed deployment of these very files waits for its next try, or was
    rolled back (then only a change or ``retry`` tries it again)."""
    if record.rolled_back_from == fingerprint:
        return True
    return record.retry_at is not None and record.attempted == fingerprint and now < record.retry_at


def held_back(record: StackStatus | None, desired: str | None, now: float) -> bool:
    """Whether a stack waits for its next try, whatever else the plan does: a failure whose
    files did not change. ``desired`` is the fingerprint of its files in the commit to
    deploy, None when it has no valid files there (then the files it last tried count)."""
    if record is None or (record.retry_at is None and record.rolled_back_from is None):
        return False
    if desired is not None and record.status is Status.REMOVAL_FAILED:
        return False  # wanted again (a revert): a failed removal holds nothing back
    fingerprint = desired if desired is not None else record.attempted
    return fingerprint is not None and held(record, fingerprint, now)


def released_with_dependency(record: StackStatus) -> bool:
    """Whether a held stack is tried at once when a stack it needs is acted on: a failure
    that waits for its retry is (it could not have started before that one did), files that
    were rolled back are not (they wait for a change or ``retry``, whatever else acts)."""
    return record.rolled_back_from is None


def deploy_retry(record: StackStatus | None, fingerprint: str) -> Retried | None:
    """What a deployment of these files tries again, when they are the ones that failed
    (the attempt is the record's ``failures`` + 1)."""
    if record is None or record.retry_at is None or record.attempted != fingerprint:
        return None
    return Retried.REVIVAL if record.status is Status.REMOVAL_FAILED else Retried.DEPLOYMENT


def stop_retry(record: StackStatus, wanted: bool) -> Retried | None:
    """What a stop by project name tries again, when the last one failed: a removal, or
    the stop of the old project of a stack still ``wanted`` under another name."""
    if record.retry_at is None:
        return None
    if record.status is Status.REMOVAL_FAILED:
        return Retried.REMOVAL
    return Retried.OLD_PROJECT if wanted else None
