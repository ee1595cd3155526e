"""One check: gather the facts, ask the core for a plan, carry it out, settle the statuses.

The runner sees the world through two small protocols, the repository and the host, so the
same code drives the real clone and Docker engine and the models in the unit tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, final

from returns.result import Failure, Result, Success

from gitops_compose.core.outcome import Outcome, StackStatus, Tally, statuses_after, tally
from gitops_compose.core.plan import (
    CheckFailure,
    Facts,
    FastForward,
    Plan,
    StackAction,
    plan,
)
from gitops_compose.core.runtime import HostState
from gitops_compose.core.snapshot import Snapshot
from gitops_compose.core.stack import Stacks, stacks_of
from gitops_compose.core.state import State, counted, retry_due
from gitops_compose.shell import log
from gitops_compose.shell.git_repository import Heads


class Repository(Protocol):
    @property
    def name(self) -> str: ...
    def check_branch(self) -> Result[None, CheckFailure]: ...
    def dirty_paths(self) -> list[str]: ...
    def fetch(self) -> Result[Heads, CheckFailure]: ...
    def snapshot(self, commit: str) -> Snapshot: ...
    def fast_forward(self, target: str) -> Result[None, str]: ...


class Host(Protocol):
    def state(self) -> Result[HostState, str]: ...
    def carry_out(self, action: StackAction) -> Outcome: ...


@final
@dataclass(frozen=True, slots=True)
class Settings:
    branch: str
    self_heal: bool = False


@final
@dataclass(frozen=True, slots=True)
class CheckReport:
    failure: CheckFailure | None
    # What the next check starts from.
    state: State
    plan: Plan | None = None
    outcomes: tuple[Outcome, ...] = ()
    # None when the check touched nothing and settled no status.
    tally: Tally | None = None

    @property
    def ok(self) -> bool:
        """The check and every stack operation succeeded, and no stack is broken."""
        return self.failure is None and (self.tally is None or self.tally.all_ok)


def prepare(
    repository: Repository,
    host: Host,
    state: State,
    settings: Settings,
    now: float,
    *,
    always: bool = False,
) -> Result[tuple[Heads, Facts | None], CheckFailure]:
    """The facts of a check, or why it must stop before anything is touched.

    Facts are None when the remote did not move and there is nothing else to do (no first
    pass, no self-healing, no retry due): such a check reads no tree and runs no Docker
    command.
    """
    branch = repository.check_branch()
    if isinstance(branch, Failure):
        return branch
    dirty = repository.dirty_paths()
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        return Failure(
            CheckFailure(
                f"the working tree has changes not in git: {shown}; commit, remove or "
                ".gitignore them (gitops-compose never discards them)"
            )
        )
    fetched = repository.fetch()
    if isinstance(fetched, Failure):
        return fetched
    heads = fetched.unwrap()
    full_pass = not state.full_pass_done
    moved = heads.local != heads.remote
    due = retry_due(state.stacks, now)
    if not (always or moved or full_pass or settings.self_heal or due):
        return Success((heads, None))
    if not heads.remote_descends:
        # The plan refuses rewritten history before it looks at any stack: read no tree.
        local, remote = Stacks(heads.local, {}, {}), Stacks(heads.remote, {}, {})
    else:
        local = stacks_of(repository.snapshot(heads.local), repository.name)
        remote = (
            local if not moved else stacks_of(repository.snapshot(heads.remote), repository.name)
        )
    host_state: HostState | None = None
    # Only starting what is not running needs the containers; a retry alone does not.
    if heads.remote_descends and (always or moved or full_pass or settings.self_heal):
        found = host.state()
        if isinstance(found, Failure):
            return Failure(CheckFailure(f"reading the containers failed: {found.failure()}"))
        host_state = found.unwrap()
    facts = Facts(
        local=local,
        remote=remote,
        branch=settings.branch,
        remote_descends=heads.remote_descends,
        host=host_state,
        full_pass=full_pass,
        self_heal=settings.self_heal,
        statuses=state.stacks,
        now=now,
    )
    return Success((heads, facts))


def run_check(
    repository: Repository,
    host: Host,
    state: State,
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
) -> CheckReport:
    started, at = clock(), now()
    prepared = prepare(repository, host, state, settings, at)
    if isinstance(prepared, Failure):
        failed = counted(state, False, now(), None)
        return _finish(CheckReport(prepared.failure(), failed), clock() - started)
    heads, facts = prepared.unwrap()
    seen = replace(state, desired_commit=heads.remote)
    if facts is None:
        return _finish(
            CheckReport(None, counted(seen, True, now(), None)), clock() - started, heads
        )
    planned = plan(facts)
    if isinstance(planned, Failure):
        failed = counted(seen, False, now(), None)
        return _finish(CheckReport(planned.failure(), failed), clock() - started, heads)
    the_plan = planned.unwrap()
    for problem in the_plan.problems:
        log.event(
            "stack",
            logging.ERROR,
            stack=problem.stack,
            project=problem.project or "-",
            action="none",
            outcome="error",
            error=problem.reason,
        )
    outcomes, failure = _carry_out(the_plan, repository, host, clock)
    # Until the fast-forward happened, the host runs what the local HEAD describes.
    desired = facts.remote if failure is None else facts.local
    settled = statuses_after(state.stacks, the_plan, outcomes, desired, at)
    _log_status_changes(state.stacks, settled)
    counts = tally(the_plan, outcomes, settled)
    after = replace(seen, stacks=settled, full_pass_done=state.full_pass_done or failure is None)
    report = CheckReport(
        failure=failure,
        # The check's times are when it ended, as its log line is written then.
        state=counted(after, failure is None, now(), counts),
        plan=the_plan,
        outcomes=outcomes,
        tally=counts,
    )
    return _finish(report, clock() - started, heads)


def _carry_out(
    the_plan: Plan, repository: Repository, host: Host, clock: Callable[[], float]
) -> tuple[tuple[Outcome, ...], CheckFailure | None]:
    outcomes: list[Outcome] = []
    for phase in the_plan.phases():
        for action in phase:
            started = clock()
            if isinstance(action, FastForward):
                moved = repository.fast_forward(action.target)
                if isinstance(moved, Failure):
                    # Without the new files nothing after this point can be deployed.
                    return tuple(outcomes), CheckFailure(moved.failure())
                log.event("fast-forward", source=action.source[:12], target=action.target[:12])
                continue
            outcome = host.carry_out(action)
            outcomes.append(outcome)
            _log_outcome(outcome, clock() - started)
    return tuple(outcomes), None


def _log_outcome(outcome: Outcome, seconds: float) -> None:
    action = outcome.action
    fields: dict[str, object] = {
        "stack": action.stack,
        "project": action.project,
        "action": action.verb.value,
        "reason": action.reason,
        "outcome": "ok" if outcome.ok else "error",
        "duration": seconds,
    }
    if outcome.error is not None:
        fields["error"] = outcome.error
    log.event("stack", logging.INFO if outcome.ok else logging.ERROR, **fields)


def _log_status_changes(
    before: Mapping[str, StackStatus], after: Mapping[str, StackStatus]
) -> None:
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old.status == new.status:
            continue
        known = new or old
        log.event(
            "status",
            stack=path,
            project=(known.project if known is not None else None) or "-",
            status=new.status.value if new is not None else "gone",
            was=old.status.value if old is not None else "new",
        )


def _finish(report: CheckReport, seconds: float, heads: Heads | None = None) -> CheckReport:
    fields: dict[str, object] = {"outcome": "ok" if report.ok else "error"}
    if heads is not None:
        moved = report.failure is None and report.plan is not None
        # The HEAD the host is at once the check is over, and the remote head it saw.
        head = heads.remote if moved else heads.local
        fields |= {"head": head[:12], "remote": heads.remote[:12]}
    if report.failure is not None:
        fields["error"] = report.failure.reason
    if report.tally is not None:
        fields |= {
            "operations": report.tally.deployments_ok + report.tally.deployments_failed,
            "failed": report.tally.deployments_failed,
            "broken": report.tally.problems,
        }
    fields["duration"] = seconds
    log.event("check", logging.INFO if report.ok else logging.ERROR, **fields)
    return report
