"""The log lines of a check, as a reporter of its events (see reporter and log).

One line per stack operation and per problem or link the plan found, one per subtree of
--path the remote head lacks and per stack forgotten as outside them, one for the
fast-forward, one per stack whose status moved, and one for the check as a whole.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

from gitops_compose.core.compose.scope import LEFT_SCOPE_REASON, MISSING_REASON
from gitops_compose.core.reconcile.event import (
    CheckSettled,
    CheckStarted,
    Event,
    FastForwarded,
    ImagesChecked,
    ImageUnchecked,
    LinkOutside,
    StackFailed,
    StackInvalid,
    StackLeftScope,
    StackRemoved,
    StackRolledBack,
    StackStarted,
    StackSucceeded,
    StatusChanged,
    SubtreeMissing,
)
from gitops_compose.core.reconcile.state import troubled
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.shell import log

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.action import StackAction


@final
class LogReporter:
    """Log lines for one check or more, one after another (not at once)."""

    def __init__(self) -> None:
        # When each action of the check in hand started (event time), for the duration
        # its line gives.
        self._started: dict[StackAction, float] = {}

    def report(self, event: Event) -> None:
        match event:
            case CheckStarted():
                self._started.clear()
            case StackInvalid(stack=stack, project=project, reason=reason):
                log.event(
                    "stack",
                    logging.ERROR,
                    stack=stack,
                    project=project or "-",
                    action="none",
                    outcome="error",
                    error=reason,
                )
            case LinkOutside():
                _link(event)
            case ImagesChecked(tags=tags, pending=pending, cooling=cooling, warnings=warned):
                log.event(
                    "images",
                    tags=tags,
                    pending=pending,
                    cooling=cooling,
                    warnings=warned,
                )
            case ImageUnchecked(stack=stack, project=project, image=image, reason=reason):
                log.event(
                    "images",
                    logging.WARNING,
                    stack=stack,
                    project=project,
                    image=image,
                    reason=reason,
                )
            case SubtreeMissing(subtree=subtree, commit=commit):
                log.event(
                    "subtree",
                    logging.WARNING,
                    path=subtree,
                    commit=commit[:12],
                    reason=MISSING_REASON,
                )
            case StackLeftScope(stack=stack, project=project):
                log.event(
                    "stack",
                    logging.WARNING,
                    stack=stack,
                    project=project or "-",
                    action="none",
                    outcome="forgotten",
                    reason=LEFT_SCOPE_REASON,
                )
            case StackStarted(action=action, at=at):
                self._started[action] = at
            case FastForwarded(source=source, target=target):
                log.event("fast-forward", source=source[:12], target=target[:12])
            case StackSucceeded(action=action, at=at) | StackRemoved(action=action, at=at):
                self._stack(action, None, at)
            case StackFailed(action=action, error=error, at=at):
                self._stack(action, error, at)
            case StackRolledBack(action=action, error=error, at=at):
                self._stack(action, error, at)
            case StatusChanged():
                _status(event)
            case CheckSettled():
                _check(event)

    def _stack(self, action: StackAction, error: str | None, at: float) -> None:
        began = self._started.pop(action, None)
        fields: dict[str, object] = {
            "stack": action.stack,
            "project": action.project,
            "action": action.verb.value,
            "reason": action.reason,
            "outcome": "ok" if error is None else "error",
            "duration": 0.0 if began is None else max(0.0, at - began),
        }
        if error is not None:
            fields["error"] = error
        log.event("stack", logging.INFO if error is None else logging.ERROR, **fields)


def _link(event: LinkOutside) -> None:
    link = event.link
    fields: dict[str, object] = {"link": link.path, "target": link.target}
    if link.via:
        fields |= {"via": ",".join(link.via), "outside": link.outside}
    log.event(
        "link",
        logging.WARNING,
        stack=event.stack,
        project=event.project,
        **fields,
        reason=link.reason,
    )


def _status(event: StatusChanged) -> None:
    fields: dict[str, object] = {
        "stack": event.stack,
        "project": event.project or "-",
        "status": event.became.value if event.became is not None else "gone",
        "was": event.was.value if event.was is not None else "new",
    }
    if event.became is Condition.NOT_RUNNING:
        fields["why"] = event.why
    log.event("status", logging.WARNING if "why" in fields else logging.INFO, **fields)


def _check(event: CheckSettled) -> None:
    report = event.report
    fields: dict[str, object] = {"outcome": "ok" if report.ok else "error"}
    if report.heads is not None and report.head is not None:
        fields |= {"head": report.head[:12], "remote": report.heads.remote[:12]}
    if report.failure is not None:
        fields["error"] = report.failure.reason
    if report.tally is not None:
        fields |= {
            "operations": report.tally.deployments_ok + report.tally.deployments_failed,
            "failed": report.tally.deployments_failed,
            "broken": report.tally.problems,
        }
    # Stacks not ok and running at the end, this check's doing or not: why it is an error.
    unwell = troubled(report.state)
    if unwell:
        fields["not_ok"] = len(unwell)
    fields["duration"] = max(0.0, event.at - event.began)
    log.event("check", logging.INFO if report.ok else logging.ERROR, **fields)
