"""The reconcile plan: from the facts of one check to ordered actions, each with its reason.

Order follows the check itself: stop what was removed (with the local files, before they
disappear), fast-forward, start what is new, pull and recreate what changed, start what is
not running. Actions of one phase are independent of each other, so a runner may carry them
out in any order or at once; a stack that did not change and runs never appears.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose_file import Role
from gitops_compose.core.runtime import HostState, not_running_reason
from gitops_compose.core.stack import Stack, StackError, Stacks
from gitops_compose.core.status import StackStatus, Status


class Phase(IntEnum):
    REMOVE = 1
    FAST_FORWARD = 2
    ADD = 3
    UPDATE = 4
    HEAL = 5


class Verb(Enum):
    STOP = "stop"
    START = "start"
    # Pull images and recreate every container, so changed mounted files take effect.
    RESTART = "restart"


@final
@dataclass(frozen=True, slots=True)
class StackAction:
    verb: Verb
    phase: Phase
    stack: str
    project: str
    # Empty for a stop by project name alone, when no valid files are left to name.
    compose_files: tuple[str, ...]
    # The commit whose files the action uses: local for stops, remote for the rest.
    commit: str
    fingerprint: str
    reason: str
    # Whether Compose must build images for it: starts of new or changed stacks do.
    build: bool = False


@final
@dataclass(frozen=True, slots=True)
class FastForward:
    source: str
    target: str
    phase: Phase = Phase.FAST_FORWARD


Action = StackAction | FastForward


@final
@dataclass(frozen=True, slots=True)
class Skip:
    """A stack the check leaves alone on purpose (the tool's own, or ignored)."""

    stack: str
    project: str
    reason: str


@final
@dataclass(frozen=True, slots=True)
class Problem:
    """A stack that cannot be deployed; it blocks nothing else."""

    stack: str
    project: str | None
    reason: str


@final
@dataclass(frozen=True, slots=True)
class CheckFailure:
    """Ends a check before anything is touched."""

    reason: str


@final
@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a plan depends on, gathered by the shell."""

    local: Stacks
    remote: Stacks
    branch: str
    # Whether the local HEAD is the remote head or one of its ancestors.
    remote_descends: bool
    # None when the shell did not look: then nothing is started for not running.
    host: HostState | None
    # The first check of a process: start whatever should run and does not.
    full_pass: bool
    # Start stacks that are not running on every check, not only when the remote changed.
    self_heal: bool = False
    # Saved status of each stack (what was last deployed, failures to retry); a stack
    # with none counts as deployed from the local HEAD.
    statuses: Mapping[str, StackStatus] = field(default_factory=dict)
    # Unix seconds, for retries that wait.
    now: float = 0.0


@final
@dataclass(frozen=True, slots=True)
class Plan:
    local: str
    remote: str
    actions: tuple[Action, ...]
    skips: tuple[Skip, ...]
    problems: tuple[Problem, ...]
    # Failed stacks waiting for their next try.
    waits: tuple[Skip, ...] = ()

    @property
    def stack_actions(self) -> tuple[StackAction, ...]:
        return tuple(each for each in self.actions if isinstance(each, StackAction))

    @property
    def in_sync(self) -> bool:
        """Nothing to do, nothing wrong and nothing waiting."""
        return not self.actions and not self.problems and not self.waits

    def phases(self) -> tuple[tuple[Action, ...], ...]:
        """Groups to run one after another; the actions inside one group are independent."""
        groups: dict[Phase, list[Action]] = {}
        for action in self.actions:
            groups.setdefault(action.phase, []).append(action)
        return tuple(tuple(groups[phase]) for phase in sorted(groups))


def plan(facts: Facts) -> Result[Plan, CheckFailure]:
    if not facts.remote_descends:
        return Failure(
            CheckFailure(
                f"local HEAD {facts.local.commit[:12]} is not an ancestor of the remote "
                f"{facts.branch} {facts.remote.commit[:12]} (history rewritten?); "
                "nothing was changed"
            )
        )
    stops = tuple(_stops(facts))
    deploys = tuple(_deploys(facts))
    touched = {action.stack for action in deploys}
    heals = tuple(_heals(facts, touched, stops))
    fast_forward: tuple[Action, ...] = ()
    if facts.local.commit != facts.remote.commit:
        fast_forward = (FastForward(source=facts.local.commit, target=facts.remote.commit),)
    actions = sorted((*stops, *fast_forward, *deploys, *heals), key=_order)
    return Success(
        Plan(
            local=facts.local.commit,
            remote=facts.remote.commit,
            actions=tuple(actions),
            skips=tuple(_skips(facts.remote)),
            problems=tuple(_problems(facts.remote)),
            waits=tuple(_waits(facts)),
        )
    )


def _order(action: Action) -> tuple[int, str]:
    return (action.phase, action.stack if isinstance(action, StackAction) else "")


def _stops(facts: Facts) -> Iterator[StackAction]:
    local, remote = facts.local, facts.remote
    for path, stack in local.valid.items():
        if stack.role is not Role.DEPLOY:
            continue  # the tool's own and ignored stacks are never stopped
        if path in remote.broken:
            # Its name cannot be read from a file that does not parse: keep what runs.
            continue
        if path in remote.valid:
            renamed = remote.valid[path].project
            if renamed == stack.project:
                continue
            reason = f"project renamed to {renamed}"
        else:
            reason = f"removed from {facts.branch}"
        yield _action(Verb.STOP, Phase.REMOVE, stack, local.commit, reason)
    # A project some stack uses again (moved, or named alike) is not for a removal to stop.
    in_use = {each.project for each in remote.valid.values()}
    for path, error in local.broken.items():
        # The saved status knows the project a broken file hides (a declared name:).
        record = facts.statuses.get(path)
        project = record.project if record is not None and record.project else error.project
        if project is None or project in in_use or path in remote.broken:
            continue
        if path not in remote.valid:
            reason = f"removed from {facts.branch}"
        else:
            # As for a valid stack: a new project name stops the old one, whatever its role.
            reason = f"project renamed to {remote.valid[path].project}"
        yield _stop_by_project(path, project, local.commit, error.fingerprint, reason)
    for path, stack in remote.valid.items():
        # A rename whose stop failed before: the old project still runs, named only in the
        # saved status once the fast-forward is done.
        record = facts.statuses.get(path)
        if (
            record is None
            or record.project in (None, stack.project)
            or stack.role is not Role.DEPLOY
        ):
            continue
        before = local.valid.get(path)
        if before is None or before.project != stack.project or record.project in in_use:
            continue  # the loops above stop it, or another stack runs that project now
        if record.status is not Status.ERROR or record.retry_at is None or _held(facts, path):
            continue
        reason = f"retry stopping the old project (attempt {record.failures + 1})"
        yield _stop_by_project(path, record.project, local.commit, record.attempted or "", reason)
    for path, record in facts.statuses.items():
        # A removal that failed before: its files may be gone, so it goes by project name.
        gone = all(path not in each.valid and path not in each.broken for each in (local, remote))
        if record.status is not Status.REMOVAL_FAILED or not gone or record.project is None:
            continue
        if record.project in in_use:
            continue
        if record.retry_at is None or _held(facts, path):
            continue
        reason = f"retry removal (attempt {record.failures + 1})"
        yield _stop_by_project(path, record.project, local.commit, record.attempted or "", reason)


def _deploys(facts: Facts) -> Iterator[StackAction]:
    """Start what is new, restart what changed since it was deployed, retry what failed."""
    local, remote = facts.local, facts.remote
    for path, stack in remote.valid.items():
        record = facts.statuses.get(path)
        if stack.role is not Role.DEPLOY or _held(facts, path):
            continue
        before = local.valid.get(path)
        baseline = record.fingerprint if record is not None else _fingerprint(local, path)
        retry = _retry_reason(record, stack.fingerprint)
        if before is not None and before.project != stack.project:
            reason = f"renamed from {before.project}"
            yield _action(Verb.START, Phase.ADD, stack, remote.commit, reason)
        elif baseline is None:
            yield _action(Verb.START, Phase.ADD, stack, remote.commit, retry or "new")
        elif baseline != stack.fingerprint:
            reason = retry or _change_reason(_files(local, path), stack.files, record is not None)
            yield _action(Verb.RESTART, Phase.UPDATE, stack, remote.commit, reason)
        elif retry is not None:
            yield _action(Verb.START, Phase.HEAL, stack, remote.commit, retry)


def _heals(
    facts: Facts, touched: set[str], stops: tuple[StackAction, ...]
) -> Iterator[StackAction]:
    # A stack stopped by hand stays stopped until the remote changes, as the seed does,
    # unless this is the first pass or self-healing was asked for.
    changed = facts.local.commit != facts.remote.commit
    # A project this plan stops with one path that another path still deploys.
    stopped = {action.project: action.stack for action in stops}
    if facts.host is None or not (facts.full_pass or facts.self_heal or changed):
        return
    for path, stack in facts.remote.valid.items():
        if stack.role is not Role.DEPLOY or path in touched or _held(facts, path):
            continue
        reason = not_running_reason(stack, facts.host.get(stack.project, ()))
        if reason is None and stack.project in stopped:
            reason = f"project {stack.project} stopped with {stopped[stack.project]}"
        if reason is not None:
            yield _action(
                Verb.START, Phase.HEAL, stack, facts.remote.commit, f"not running: {reason}"
            )


def _held(facts: Facts, path: str) -> bool:
    """A failed stack whose files did not change waits for its next try."""
    record = facts.statuses.get(path)
    if record is None or record.retry_at is None:
        return False
    stack = facts.remote.valid.get(path)
    if stack is not None and record.status is Status.REMOVAL_FAILED:
        return False  # wanted again (a revert): a failed removal holds nothing back
    fingerprint = stack.fingerprint if stack is not None else record.attempted
    return fingerprint is not None and record.held(fingerprint, facts.now)


def _retry_reason(record: StackStatus | None, fingerprint: str) -> str | None:
    if record is None or record.retry_at is None or record.attempted != fingerprint:
        return None
    what = "removal" if record.status is Status.REMOVAL_FAILED else "error"
    return f"retry after {what} (attempt {record.failures + 1})"


def _waits(facts: Facts) -> list[Skip]:
    waits = []
    for path, record in facts.statuses.items():
        if record.retry_at is not None and _held(facts, path):
            minutes = max(1, round((record.retry_at - facts.now) / 60))
            reason = f"waiting {minutes} min to retry after {record.status.value}: {record.error}"
            waits.append(Skip(stack=path, project=record.project or "-", reason=reason))
    return sorted(waits, key=lambda each: each.stack)


def _skips(remote: Stacks) -> list[Skip]:
    skips = [
        Skip(stack=path, project=stack.project, reason=stack.role.value)
        for path, stack in remote.valid.items()
        if stack.role is not Role.DEPLOY
    ]
    return sorted(skips, key=lambda each: each.stack)


def _problems(remote: Stacks) -> Iterator[Problem]:
    for path, error in sorted(remote.broken.items()):
        yield Problem(stack=path, project=error.project, reason=error.reason)


def _action(verb: Verb, phase: Phase, stack: Stack, commit: str, reason: str) -> StackAction:
    return StackAction(
        verb=verb,
        phase=phase,
        stack=stack.path,
        project=stack.project,
        compose_files=stack.compose_files,
        commit=commit,
        fingerprint=stack.fingerprint,
        reason=reason,
        build=stack.builds and phase in (Phase.ADD, Phase.UPDATE),
    )


def _stop_by_project(
    path: str, project: str, commit: str, fingerprint: str, reason: str
) -> StackAction:
    """A stop with no valid files to name: Compose finds the project by its labels."""
    return StackAction(
        verb=Verb.STOP,
        phase=Phase.REMOVE,
        stack=path,
        project=project,
        compose_files=(),
        commit=commit,
        fingerprint=fingerprint,
        reason=reason,
    )


def _fingerprint(stacks: Stacks, path: str) -> str | None:
    found: Stack | StackError | None = stacks.valid.get(path) or stacks.broken.get(path)
    return None if found is None else found.fingerprint


def _files(stacks: Stacks, path: str) -> Mapping[str, str]:
    found: Stack | StackError | None = stacks.valid.get(path) or stacks.broken.get(path)
    return {} if found is None else found.files


def _change_reason(before: Mapping[str, str], after: Mapping[str, str], from_state: bool) -> str:
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    if not changed:
        # Same files as the local HEAD, yet not what was last deployed: a retry.
        return "changed since the last deployment" if from_state else "changed"
    shown = ", ".join(changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    return f"changed: {shown}{more}"
