"""What a deploy's commit shows on the forge, decided from the check's events.

One status per check that deployed something (started, restarted or stopped a stack),
under the context ``gitops-compose/<name>``: ``pending`` when its actions start, then
``success`` or ``failure`` when it settles. The commit is the remote head the check
carries out. A check is a success when it is what ``--once`` exits 0 for (it did all it
had to and every managed stack is ok and running) and nothing was rolled back; a rolled-back
stack is a failure, always. The description lists the stacks that failed or were rolled
back, cut to what every forge takes.

The shell posts what this decides (shell/commit_statuses.py); this module only decides,
as a fold over the events: ``heard(watch, event)`` gives the next watch and, now and then,
a status to post.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import final

from gitops_compose.core.reconcile.event import (
    CheckSettled,
    CheckStarted,
    Event,
    FastForwarded,
    StackFailed,
    StackPlanned,
    StackRemoved,
    StackRolledBack,
    StackStarted,
    StackSucceeded,
)
from gitops_compose.core.reconcile.state import troubled
from gitops_compose.core.reconcile.verb import Verb

# GitHub's limit for a status's description (Gitea and GitLab take more).
LONGEST_DESCRIPTION = 140


class Verdict(Enum):
    """A status's state as GitHub and Gitea name it (GitLab says ``failed``)."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


@final
@dataclass(frozen=True, slots=True)
class CommitStatus:
    """One status to post: on commit ``sha``, under ``context``."""

    sha: str
    verdict: Verdict
    description: str
    context: str


def context_of(name: str) -> str:
    """The status's context: one per host, so two hosts deploying a commit show two."""
    return f"gitops-compose/{name}"


def cut(text: str, longest: int = LONGEST_DESCRIPTION) -> str:
    return text if len(text) <= longest else f"{text[: longest - 3]}..."


@final
@dataclass(frozen=True, slots=True)
class Watch:
    """What the events of the check in hand told so far."""

    context: str
    # The commit the check deploys, once an event names it.
    sha: str | None = None
    planned: tuple[str, ...] = ()
    # Whether an action started: only a check that acts posts.
    acting: bool = False
    pending_posted: bool = False
    deployed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()


def watch(name: str) -> Watch:
    return Watch(context_of(name))


def heard(watch: Watch, event: Event) -> tuple[Watch, CommitStatus | None]:
    """The watch after ``event``, and the status it calls for (None: nothing to post)."""
    match event:
        case CheckStarted():
            return Watch(watch.context), None
        case StackPlanned(action=action):
            return replace(watch, planned=(*watch.planned, action.stack)), None
        case StackStarted(action=action):
            # A stop runs from the clone's own commit; the rest from the remote head.
            sha = watch.sha if action.verb is Verb.STOP else watch.sha or action.commit
            return _pending(replace(watch, acting=True, sha=sha))
        case FastForwarded(target=target):
            return _pending(replace(watch, sha=target))
        case StackSucceeded(action=action) | StackRemoved(action=action):
            return replace(watch, deployed=(*watch.deployed, action.stack)), None
        case StackFailed(action=action):
            return replace(watch, failed=(*watch.failed, action.stack)), None
        case StackRolledBack(action=action):
            return replace(watch, rolled_back=(*watch.rolled_back, action.stack)), None
        case CheckSettled(report=report):
            if not watch.acting:
                return Watch(watch.context), None
            sha = watch.sha or (report.heads.remote if report.heads else None) or report.head
            if sha is None:
                return Watch(watch.context), None
            rolled_back = bool(watch.rolled_back)
            verdict = Verdict.SUCCESS if report.ok and not rolled_back else Verdict.FAILURE
            failure = report.failure.reason if report.failure is not None else None
            described = _settled(watch, verdict, failure, troubled(report.state))
            return Watch(watch.context), CommitStatus(sha, verdict, described, watch.context)
        case _:
            return watch, None


def _pending(watch: Watch) -> tuple[Watch, CommitStatus | None]:
    if not watch.acting or watch.pending_posted or watch.sha is None:
        return watch, None
    stacks = ", ".join(dict.fromkeys(watch.planned)) or "stacks"
    status = CommitStatus(watch.sha, Verdict.PENDING, cut(f"deploying {stacks}"), watch.context)
    return replace(watch, pending_posted=True), status


def _settled(watch: Watch, verdict: Verdict, failure: str | None, troubled: tuple[str, ...]) -> str:
    if verdict is Verdict.SUCCESS:
        return cut(f"deployed {', '.join(dict.fromkeys(watch.deployed)) or 'nothing'}")
    parts = []
    if watch.failed:
        parts.append(f"failed: {', '.join(dict.fromkeys(watch.failed))}")
    if watch.rolled_back:
        parts.append(f"rolled back: {', '.join(dict.fromkeys(watch.rolled_back))}")
    if failure is not None:
        parts.append(f"check failed: {failure}")
    others = [each for each in troubled if each not in watch.failed + watch.rolled_back]
    if others:
        parts.append(f"not ok: {', '.join(others)}")
    return cut("; ".join(parts) or "failed")
