"""What is worth telling someone about a check, decided from its events and a memory.

The shell sends the notices (shell/notifier.py); this module only decides which. The memory
is what was last told, by key (a stack's path, or ``CHECK`` for the check as a whole), and
lives in the state file, so a cron ``--once`` every minute tells a repeated failure once:
- a stack that fails (error, removal failed, rolled back, files invalid) is told once per
  reason; the same reason again tells nothing;
- a stack back to ok is told, and forgotten, so its next failure is told again;
- a check that fails is told once per reason, and once when checks pass again;
- with ``changes``, one summary per check that started, restarted or stopped something.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import final

from gitops_compose.core.reconcile.event import (
    CheckSettled,
    Event,
    StackFailed,
    StackInvalid,
    StackRecovered,
    StackRemoved,
    StackRolledBack,
    StackSucceeded,
    StatusChanged,
)
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.core.value import Value

# The memory's key for the check as a whole (no stack path is empty).
CHECK = ""
# The longest reason a notice carries: a container's log lines are cut short.
LONGEST_REASON = 600


class Level(Enum):
    """Apprise's notification types."""

    FAILURE = "failure"
    WARNING = "warning"
    SUCCESS = "success"
    INFO = "info"


class NotifyOn(Enum):
    FAILURES = "failures"
    CHANGES = "changes"


@final
class Notice(Value):
    level: Level
    title: str
    body: str


def short(commit: str | None) -> str:
    return commit[:12] if commit else "-"


def cut(reason: str) -> str:
    return reason if len(reason) <= LONGEST_REASON else f"{reason[: LONGEST_REASON - 3]}..."


def decide(
    events: Sequence[Event], memory: Mapping[str, str], host: str, on: NotifyOn
) -> tuple[tuple[Notice, ...], dict[str, str]]:
    """The notices a check's events call for, and the memory the next check starts from."""
    told: list[Notice] = []
    remembered = dict(memory)
    changed: list[str] = []
    commits: list[str] = []

    def failed(stack: str, commit: str | None, reason: str, *, rolled_back: bool) -> None:
        if remembered.get(stack) == reason:
            return
        remembered[stack] = reason
        what = "rolled back" if rolled_back else "failed"
        level = Level.WARNING if rolled_back else Level.FAILURE
        told.append(
            Notice(
                level,
                f"{host}: stack {stack} {what}",
                f"host {host}, stack {stack}, commit {short(commit)}: {what}: {cut(reason)}",
            )
        )

    for event in events:
        match event:
            case StackFailed(action=action, error=error):
                failed(action.stack, action.commit, error, rolled_back=False)
            case StackRolledBack(action=action, error=error):
                failed(action.stack, action.commit, error, rolled_back=True)
            case StackInvalid(stack=stack, reason=reason):
                failed(stack, None, reason, rolled_back=False)
            case StackRecovered(stack=stack):
                remembered.pop(stack, None)
                told.append(
                    Notice(
                        Level.SUCCESS,
                        f"{host}: stack {stack} recovered",
                        f"host {host}, stack {stack}: recovered, ok and running",
                    )
                )
            case StatusChanged(stack=stack, became=became) if became in (None, Condition.OK):
                # Gone from the repository, or ok again without an error before (not
                # running): nothing to remember.
                remembered.pop(stack, None)
            case StackSucceeded(action=action) | StackRemoved(action=action):
                changed.append(f"{action.verb.value} {action.stack}")
                commits.append(action.commit)
            case CheckSettled(report=report):
                failure = report.failure
                if failure is not None:
                    if remembered.get(CHECK) != failure.reason:
                        remembered[CHECK] = failure.reason
                        told.append(
                            Notice(
                                Level.FAILURE,
                                f"{host}: checks failing",
                                f"host {host}, commit {short(report.head)}: "
                                f"check failed: {cut(failure.reason)}",
                            )
                        )
                elif CHECK in remembered:
                    del remembered[CHECK]
                    told.append(
                        Notice(
                            Level.SUCCESS,
                            f"{host}: checks pass again",
                            f"host {host}, commit {short(report.head)}: checks pass again",
                        )
                    )
            case _:
                pass
    if on is NotifyOn.CHANGES and changed:
        commit = commits[-1] if commits else None
        told.append(
            Notice(
                Level.INFO,
                f"{host}: deployed {short(commit)}",
                f"host {host}, commit {short(commit)}: {'; '.join(changed)}",
            )
        )
    return tuple(told), remembered
