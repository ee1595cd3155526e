"""The stages of a check up to "nothing to do": the clone, the host, and the end.

Most checks end here: nothing new on the remote, no retry due, no full pass, and the host
looked at once so that the statuses say what runs. This module and what it imports at
module level (the conversation, the state, the statuses, what "running" means) is all such
a check loads: planning, scheduling, the health gate and settling stay unimported (see
``onward`` and tests/core/test_idle_imports.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.configuration import Baseline, drifted
from gitops_compose.core.reconcile.conversation import (
    CheckReport,
    Clone,
    Heads,
    LookAtClone,
    LookAtHost,
    Request,
    Settled,
)
from gitops_compose.core.reconcile.counting import counters_after
from gitops_compose.core.reconcile.event import (
    CheckSettled,
    Event,
    StackRecovered,
    StatusChanged,
)
from gitops_compose.core.reconcile.full_pass import full_pass_done, full_pass_due
from gitops_compose.core.reconcile.image_check import image_check_due
from gitops_compose.core.reconcile.retry import retry_due
from gitops_compose.core.reconcile.runtime import not_running_reason
from gitops_compose.core.reconcile.stage import Check, Context
from gitops_compose.core.reconcile.status import Condition, StackStatus, Status
from gitops_compose.core.value import replace

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.runtime import HostState
    from gitops_compose.core.reconcile.state import State


@final
class LookingAtClone(Check):
    """The first stage: the branch, the working tree and a fetch."""

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtClone()

    def clone_seen(self, clone: Clone) -> Check:
        fetched = heads_of(clone)
        if isinstance(fetched, Failure):
            return Ending(self.context, None, None, fetched.failure())
        heads = fetched.unwrap()
        if heads.remote_descends and not work_to_do(self.context, heads):
            # Nothing to plan; the containers are still read, so the statuses say what runs.
            return LookingAtHost(self.context, heads)
        return onward(self.context, heads)


@final
class LookingAtHost(Check):
    """Nothing to plan: the containers, so that each stack's status says whether it runs."""

    heads: Heads

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtHost()

    def host_seen(self, found: Result[HostState, str]) -> Check:
        if isinstance(found, Failure):
            failure = CheckFailure(f"reading the containers failed: {found.failure()}")
            return Ending(self.context, self.heads, None, failure)
        return Ending(self.context, self.heads, found.unwrap(), None)


@final
class Ending(Check):
    """Over before anything was touched: nothing to do, or a failure before any action
    (then ``failure`` says why). ``heads`` and ``host`` as far as they were seen."""

    heads: Heads | None
    host: HostState | None
    failure: CheckFailure | None

    def _next(self, now: float) -> tuple[Check, Request]:
        state, heads = self.context.state, self.heads
        if heads is not None:
            state = replace(state, desired_commit=heads.remote)
        done = full_pass_done(state, self.context.settings.daemon_starting, passed=False)
        ok = self.failure is None
        state = replace(
            state,
            stacks=on_host(state.stacks, self.host, {}, baseline(self.context, state)),
            full_pass_done=done,
            counters=counters_after(self.context.counting, did_all=ok, at=now),
        )
        report = CheckReport(
            self.failure,
            state,
            heads,
            head=None if heads is None else heads.local,
        )
        return closing(self.context, report, now).next(now)


@final
class Done(Check):
    """The last stage: the report, once its events are told."""

    report: CheckReport

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, Settled(self.report)


def onward(context: Context, heads: Heads) -> Check:
    """The check has work (or a rewritten history to refuse): on to reading and planning.

    The one import of the core made when it is needed rather than at the top: it is where
    an idle check's modules end and the rest of the check's begin.
    """
    from gitops_compose.core.reconcile.planning import reading_commits  # noqa: PLC0415

    return reading_commits(context, heads)


def heads_of(clone: Clone) -> Result[Heads, CheckFailure]:
    """The heads to check, or why the clone cannot be checked: a working tree with changes
    not in git (never discarded), HEAD off the branch, or a failed fetch."""
    if clone.dirty:
        shown = ", ".join(clone.dirty[:5])
        if len(clone.dirty) > 5:
            shown += f" and {len(clone.dirty) - 5} more"
        return Failure(
            CheckFailure(
                f"the working tree has changes not in git: {shown}; commit, remove or "
                ".gitignore them (gitops-compose never discards them)"
            )
        )
    if isinstance(clone.fetched, Failure):
        return clone.fetched
    return Success(clone.fetched.unwrap())


def work_to_do(context: Context, heads: Heads) -> bool:
    """Whether to read the trees: the remote moved, this is a full pass, healing is asked
    for, a failed stack's retry is due, or an image check is."""
    state, settings = context.state, context.settings
    return (
        settings.always
        or heads.local != heads.remote
        or full_pass(context, heads)
        or settings.self_heal
        or retry_due(state.stacks, context.began)
        or any(each.expects is None for each in state.stacks.values())
        or image_check_due(state, settings.images, context.began)
    )


def full_pass(context: Context, heads: Heads) -> bool:
    """Whether this check starts whatever should run and does not (see full_pass)."""
    return full_pass_due(context.state, heads.remote, context.settings.daemon_starting)


def on_host(
    stacks: Mapping[str, StackStatus],
    host: HostState | None,
    acted: Mapping[str, str | None],
    expected: Baseline | None = None,
) -> dict[str, StackStatus]:
    """Each stack's record with whether the host runs what it should, from the last look
    at the containers (``host``; None: not seen). A stack acted on when the host could
    not be looked at afterwards (``acted``: stack path -> its action's error) runs if its
    action went well."""
    seen: dict[str, StackStatus] = {}
    for path, record in stacks.items():
        down = record.down
        if path in acted:
            down = acted[path]
        elif host is not None and record.project is not None:
            # No expectation yet (a state of an older version): judged by its containers.
            looked = record.expects or Expectation(includes=True)
            down = not_running_reason(looked, host.get(record.project, ()))
        seen[path] = replace(record, down=down, drift=_drift(path, record, host, expected))
    return seen


def baseline(context: Context, state: State) -> Baseline:
    """What this check judges drift by (see configuration)."""
    settings = context.settings
    return Baseline(state.configs, settings.environment, settings.clone)


def _drift(
    path: str, record: StackStatus, host: HostState | None, expected: Baseline | None
) -> tuple[str, ...]:
    """The services of a stack that run from another directory than the clone's, or
    another configuration than the files it was last deployed from give in this
    environment, where the state keeps their hashes (a rolled-back stack runs its last
    good files on purpose)."""
    if host is None or record.project is None or expected is None:
        return record.drift
    if record.rolled_back_from:
        return ()
    hashes = expected.hashes(path, record.fingerprint)
    return drifted(hashes, host.get(record.project, ()), expected.directory(path))


def closing(context: Context, report: CheckReport, now: float) -> Done:
    """The end of every check: each stack whose status moved, each back from an error, and
    the report, told in that order."""
    before, after = context.state.stacks, report.state.stacks
    events: list[Event] = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old.condition == new.condition:
            continue
        known = new or old
        events.append(
            StatusChanged(
                stack=path,
                project=known.project if known is not None else None,
                was=old.condition if old is not None else None,
                became=new.condition if new is not None else None,
                why=new.down
                if new is not None and new.condition is Condition.NOT_RUNNING
                else None,
                at=now,
            )
        )
    for path, new in sorted(after.items()):
        old = before.get(path)
        if old is not None and old.status is not Status.OK and new.status is Status.OK:
            events.append(StackRecovered(path, new.project, old.status, now))
    events.append(CheckSettled(report, context.began, now))
    return Done(context.telling(*events), report)
