"""The stacks' history and the last check, as a reporter of a check's events (see reporter).

It keeps what the status page shows of the stream: the entries of core/reconcile/history
(bounded, saved in the state by the job), when the last check began and ended and how,
and which stacks each planned stack waited for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from gitops_compose.core.reconcile.event import CheckSettled, Event, StackPlanned
from gitops_compose.core.reconcile.history import entry_of, kept
from gitops_compose.core.value import Value

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.history import HistoryEntry


@final
class LastCheck(Value):
    """When the last check began and ended, and how (the status page shows it)."""

    began: float
    ended: float
    ok: bool
    # Why it ended early; None when it did not.
    failure: str | None


@final
class HistoryReporter:
    def __init__(self, history: tuple[HistoryEntry, ...]) -> None:
        self.history = history
        self.last_check: LastCheck | None = None
        self.waits_for: dict[str, tuple[str, ...]] = {}

    def report(self, event: Event) -> None:
        match event:
            case StackPlanned(action=action):
                self.waits_for[action.stack] = action.after
            case CheckSettled(report=report, began=began, at=at):
                failure = report.failure
                self.last_check = LastCheck(
                    began, at, report.ok, None if failure is None else failure.reason
                )
            case _:
                pass
        entry = entry_of(event)
        if entry is not None:
            self.history = kept(self.history, (entry,))
