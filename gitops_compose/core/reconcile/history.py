"""A stack's recent events, as plain values: what the status page lists for each stack.

The event stream (event.py) says what a check did; the history keeps, of that, what a
person looking at one stack wants to see — planned, started, succeeded, failed, rolled
back, recovered — with when, at which commit and why. It is bounded (the last
``MOST_ENTRIES`` events of all stacks together) and saved in the state, so it outlives a
restart and is kept by ``--once`` runs from cron. Reasons are the texts the check decided
on, which never carry a secret (a remote's credentials are redacted before any text is
made of it).
"""

from __future__ import annotations

from enum import Enum
from typing import final

from gitops_compose.core.reconcile.event import (
    Event,
    StackFailed,
    StackInvalid,
    StackPlanned,
    StackRecovered,
    StackRemoved,
    StackRolledBack,
    StackStarted,
    StackSucceeded,
)
from gitops_compose.core.value import Value

# The events kept, of all stacks together: enough for a page per stack, little in the state.
MOST_ENTRIES = 200


class Happening(Enum):
    """What happened to a stack, as the page says it."""

    PLANNED = "planned"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    REMOVED = "removed"
    FAILED = "failed"
    INVALID = "invalid"
    ROLLED_BACK = "rolled back"
    RECOVERED = "recovered"


@final
class HistoryEntry(Value):
    stack: str
    happening: Happening
    # Unix seconds, as the event says.
    at: float
    commit: str | None = None
    reason: str | None = None


def entry_of(event: Event) -> HistoryEntry | None:
    """The history entry an event makes, or None for one the history does not keep."""
    match event:
        case StackPlanned(action=action, at=at):
            return HistoryEntry(
                action.stack,
                Happening.PLANNED,
                at,
                action.commit,
                f"{action.verb.value}: {action.reason}",
            )
        case StackStarted(action=action, at=at):
            return HistoryEntry(action.stack, Happening.STARTED, at, action.commit)
        case StackSucceeded(action=action, at=at):
            return HistoryEntry(action.stack, Happening.SUCCEEDED, at, action.commit)
        case StackRemoved(action=action, at=at):
            return HistoryEntry(action.stack, Happening.REMOVED, at, action.commit)
        case StackFailed(action=action, error=error, at=at):
            return HistoryEntry(action.stack, Happening.FAILED, at, action.commit, error)
        case StackRolledBack(action=action, error=error, at=at):
            return HistoryEntry(action.stack, Happening.ROLLED_BACK, at, action.commit, error)
        case StackInvalid(stack=stack, reason=reason, at=at):
            return HistoryEntry(stack, Happening.INVALID, at, None, reason)
        case StackRecovered(stack=stack, was=was, at=at):
            return HistoryEntry(stack, Happening.RECOVERED, at, None, f"was {was.value}")
        case _:
            return None


def kept(
    history: tuple[HistoryEntry, ...], more: tuple[HistoryEntry, ...], most: int = MOST_ENTRIES
) -> tuple[HistoryEntry, ...]:
    """The history with ``more`` after it, oldest first, cut to the last ``most``."""
    joined = history + more
    return joined[-most:] if len(joined) > most else joined


def of_stack(history: tuple[HistoryEntry, ...], stack: str) -> tuple[HistoryEntry, ...]:
    """A stack's entries, newest first."""
    return tuple(entry for entry in reversed(history) if entry.stack == stack)
