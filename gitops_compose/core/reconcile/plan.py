"""The reconcile plan: from the facts of one check to actions, each with its cause and order.

A check stops what was removed (with the local files, before they disappear), fast-forwards,
starts what is new, pulls and recreates what changed, and starts what is not running. Each
action names the stacks it comes after (see order): starts after what they depend on,
stops before what they use. A stack that did not change and runs never appears.

What was deployed is read from the saved state, stack by stack, so a check that was killed
or stopped half-way is finished by the next one: a stack the state has no record of is
looked at on the host, and a recorded stack that is gone from both commits is stopped by
its project name.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.link import OutsideLink
from gitops_compose.core.compose.resource import Resource
from gitops_compose.core.compose.secret_file import SecretFile
from gitops_compose.core.compose.stack import Stack, StackError, Stacks
from gitops_compose.core.reconcile.action import (
    Action,
    Cause,
    Changed,
    Drift,
    FastForward,
    ImageUpdated,
    New,
    NotRunning,
    Phase,
    Removed,
    Renamed,
    Retry,
    StackAction,
    Verb,
    drifted_text,
)
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.configuration import drifted, moved, stack_directory
from gitops_compose.core.reconcile.image_update import ImageFindings
from gitops_compose.core.reconcile.order import Order, order_of
from gitops_compose.core.reconcile.retry import (
    deploy_retry,
    held,
    held_back,
    released_with_dependency,
    stop_retry,
)
from gitops_compose.core.reconcile.runtime import HostState, not_running_reason
from gitops_compose.core.reconcile.status import StackStatus
from gitops_compose.core.value import Value, field, replace

__all__ = [
    "Action",
    "CheckFailure",
    "Facts",
    "FastForward",
    "LinkWarning",
    "Phase",
    "Plan",
    "Problem",
    "Skip",
    "StackAction",
    "Verb",
    "plan",
]


@final
class Skip(Value):
    """A stack the check leaves alone on purpose (the tool's own, or ignored)."""

    stack: str
    project: str
    reason: str


@final
class Problem(Value):
    """A stack that cannot be deployed; it blocks nothing else."""

    stack: str
    project: str | None
    reason: str


@final
class LinkWarning(Value):
    """A stack to deploy uses a symbolic link out of the repository: allowed, and said."""

    stack: str
    project: str
    link: OutsideLink


@final
class Facts(Value):
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
    # with none counts as deployed from the local HEAD if it runs.
    statuses: Mapping[str, StackStatus] = field(default_factory=dict)
    # Unix seconds, for retries that wait.
    now: float = 0.0
    # The host's networks and volumes; None when not looked at (see Plan.needs_resources).
    resources: frozenset[Resource] | None = None
    # Stack path -> the configuration hash each service of its files gives (see
    # configuration), where known; and the clone's directory ("": not known).
    configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    clone: str = ""
    # Stack path -> the services whose image tags moved, to pull and recreate (see
    # image_update): only on an image check, and only once cooled down.
    image_updates: Mapping[str, ImageUpdated] = field(default_factory=dict)


@final
class SecretStack(Value):
    """A stack of the remote head that has secret files (see secret_file), and, once the
    shell tried to decrypt them (``plan --secrets``), why it could not: None when it could
    or did not try."""

    stack: str
    project: str
    commit: str
    files: tuple[SecretFile, ...]
    tried: bool = False
    error: str | None = None


@final
class Plan(Value):
    local: str
    remote: str
    actions: tuple[Action, ...]
    skips: tuple[Skip, ...]
    problems: tuple[Problem, ...]
    # Failed stacks waiting for their next try.
    waits: tuple[Skip, ...] = ()
    # Stacks whose actions cannot start: an external network or volume that no stack
    # creates and the host lacks. Stack path -> why.
    blocked: Mapping[str, str] = field(default_factory=dict)
    # Whether some action's stack uses an external network or volume that no stack
    # creates, and the host's were not looked at.
    needs_resources: bool = False
    # Deployed stacks whose services are not all running, which this check leaves as they
    # are (stopped by hand, or crashed; --self-heal or their next change starts them).
    drift: tuple[Skip, ...] = ()
    # Links out of the repository that stacks of the remote head use; they change nothing.
    warnings: tuple[LinkWarning, ...] = ()
    # The stacks of the remote head that have secret files.
    secrets: tuple[SecretStack, ...] = ()
    # What this check's image check found (None: none was due): for plan --images.
    images: ImageFindings | None = None
    # Subtrees of this host's scope (--path) that the remote head has no directory for.
    missing_subtrees: tuple[str, ...] = ()

    @property
    def stack_actions(self) -> tuple[StackAction, ...]:
        return tuple(each for each in self.actions if isinstance(each, StackAction))

    @property
    def in_sync(self) -> bool:
        """Nothing to do, nothing wrong, nothing waiting, and everything runs."""
        return (
            not self.actions
            and not self.problems
            and not self.waits
            and not self.drift
            and not any(each.error for each in self.secrets)
        )

    def phases(self) -> tuple[tuple[Action, ...], ...]:
        """The actions by phase, in the order they run when nothing depends on anything."""
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
    order, local_order = order_of(facts.remote), order_of(facts.local)
    stops = tuple(_stops(facts, order, local_order))
    starts = tuple(_from_here(facts, each) for each in _starts(facts, order, stops))
    fast_forward: tuple[Action, ...] = ()
    if facts.local.commit != facts.remote.commit:
        fast_forward = (FastForward(source=facts.local.commit, target=facts.remote.commit),)
    stops = _ordered_stops(stops, local_order)
    actions = _in_order((*stops, *fast_forward, *starts))
    unowned = {
        each.stack: order.unowned[each.stack] for each in starts if each.stack in order.unowned
    }
    blocked: dict[str, str] = {}
    if facts.resources is not None:
        for path, resources in unowned.items():
            lacking = sorted(resources - facts.resources)
            if lacking:
                blocked[path] = _lacking(lacking)
    problems = tuple(_problems(facts.remote, order))
    waits = tuple(_waits(facts))
    left_alone = {each.stack for each in problems} | {each.stack for each in waits}
    left_alone |= {each.stack for each in actions if isinstance(each, StackAction)}
    return Success(
        Plan(
            local=facts.local.commit,
            remote=facts.remote.commit,
            actions=tuple(actions),
            skips=tuple(_skips(facts.remote)),
            problems=problems,
            waits=waits,
            blocked=blocked,
            needs_resources=bool(unowned) and facts.resources is None,
            drift=tuple(_drift(facts, left_alone)),
            warnings=tuple(_link_warnings(facts.remote)),
            secrets=tuple(
                SecretStack(path, stack.project, facts.remote.commit, stack.secret_files)
                for path, stack in sorted(facts.remote.valid.items())
                if stack.secret_files and stack.role is Role.DEPLOY
            ),
            missing_subtrees=facts.remote.missing,
        )
    )


def _lacking(resources: list[Resource]) -> str:
    if len(resources) == 1:
        return f"{resources[0]} is external, but no stack creates it and the host has none"
    shown = ", ".join(str(each) for each in resources[:-1]) + f" and {resources[-1]}"
    return f"{shown} are external, but no stack creates them and the host has none"


def _order(action: Action) -> tuple[int, str]:
    return (action.phase, action.stack if isinstance(action, StackAction) else "")


def _in_order(actions: tuple[Action, ...]) -> list[Action]:
    """By phase, then path; but each action after those it names (``after``), so the plan
    reads in the order one job at a time would run it."""
    keyed = sorted(enumerate(actions), key=lambda item: _order(item[1]))
    if not any(isinstance(each, StackAction) and each.after for each in actions):
        return [action for _, action in keyed]  # most plans: no stack waits for another
    groups: dict[bool, dict[str, int]] = {True: {}, False: {}}  # stop or not -> path -> index
    for index, action in enumerate(actions):
        if isinstance(action, StackAction):
            groups[action.verb is Verb.STOP][action.stack] = index
    waiting_for = [0] * len(actions)
    followers: dict[int, list[int]] = {}
    for index, action in enumerate(actions):
        if isinstance(action, StackAction):
            group = groups[action.verb is Verb.STOP]
            firsts = [group[path] for path in action.after if path in group]
            waiting_for[index] = len(firsts)
            for first in firsts:
                followers.setdefault(first, []).append(index)
    ready = [(_order(action), index) for index, action in keyed if not waiting_for[index]]
    heapq.heapify(ready)
    ordered: list[int] = []
    while ready:
        _, index = heapq.heappop(ready)
        ordered.append(index)
        for follower in followers.get(index, ()):
            waiting_for[follower] -= 1
            if not waiting_for[follower]:
                heapq.heappush(ready, (_order(actions[follower]), follower))
    placed = set(ordered)  # every action, as no stack of a plan waits in a cycle
    ordered += [index for index, _ in keyed if index not in placed]
    return [actions[index] for index in ordered]


def _starts(facts: Facts, order: Order, stops: tuple[StackAction, ...]) -> tuple[StackAction, ...]:
    """Deploys and heals, each after the stacks it depends on that this plan acts on.

    A failed stack waiting for its retry is tried together with a dependency this plan
    acts on: it could not have started before that dependency did.
    """
    released: set[str] = set()
    while True:
        deploys = tuple(_deploys(facts, order, released))
        touched = {action.stack for action in deploys}
        heals = tuple(_heals(facts, order, touched, stops, released))
        heals += tuple(_image_updates(facts, order, touched | {each.stack for each in heals}))
        acted = touched | {each.stack for each in heals}
        more = {
            path
            for path, needs in order.needs.items()
            if path not in acted
            and needs & acted
            and _held(facts, path)
            and released_with_dependency(facts.statuses[path])
        } - released
        if not more:
            break
        released |= more
    acting = {action.stack for action in (*deploys, *heals)}
    return tuple(
        replace(action, after=tuple(sorted(order.needs.get(action.stack, frozenset()) & acting)))
        for action in (*deploys, *heals)
    )


def _ordered_stops(stops: tuple[StackAction, ...], local: Order) -> tuple[StackAction, ...]:
    """A stack stops before the stacks it uses: each stop comes after its users' stops."""
    # Stacks in a cycle (local.problems) are not ordered, so every stop can run.
    stopping = {action.stack for action in stops} - local.problems.keys()
    users: dict[str, set[str]] = {}
    for path, needs in local.needs.items():
        if path in stopping:
            for each in needs & stopping:
                users.setdefault(each, set()).add(path)
    return tuple(
        replace(action, after=tuple(sorted(users.get(action.stack, ()))))
        if action.stack in users
        else action
        for action in stops
    )


def _stops(facts: Facts, order: Order, local_order: Order) -> Iterator[StackAction]:
    local, remote = facts.local, facts.remote
    found: list[StackAction] = []
    for path, stack in local.valid.items():
        if stack.role is not Role.DEPLOY or path in local_order.problems:
            continue  # the tool's own and ignored stacks are never stopped
        if path in remote.broken or path in order.problems:
            # It cannot be deployed as it is now: keep what runs until it is fixed. (The
            # name of a file that does not parse cannot even be read.)
            continue
        cause: Cause
        if path in remote.valid:
            renamed = remote.valid[path].project
            if renamed == stack.project:
                continue
            cause = Renamed(old=stack.project, new=renamed, stopping_old=True)
        else:
            cause = Removed(facts.branch)
        found.append(_action(Verb.STOP, Phase.REMOVE, stack, local.commit, cause))
    # A project some stack uses again (moved, or named alike) is not for a removal to stop.
    in_use = {each.project for each in remote.valid.values()}
    # Stacks the local HEAD could not deploy: what runs of them runs as the state says.
    undeployable = {
        path: (error.project, error.fingerprint) for path, error in local.broken.items()
    }
    for path in local_order.problems:
        undeployable[path] = (local.valid[path].project, local.valid[path].fingerprint)
    for path, (known, fingerprint) in undeployable.items():
        # The saved status knows the project a broken file hides (a declared name:).
        record = facts.statuses.get(path)
        project = record.project if record is not None and record.project else known
        if project is None or project in in_use or path in remote.broken or path in order.problems:
            continue
        if path not in remote.valid:
            cause = Removed(facts.branch)
        else:
            # As for a valid stack: a new project name stops the old one, whatever its role.
            new = remote.valid[path].project
            cause = Renamed(old=project, new=new, stopping_old=True)
        found.append(_stop_by_project(path, project, local.commit, fingerprint, cause))
    yield from found
    yield from _recorded_stops(facts, order, in_use, {action.project for action in found})


def _recorded_stops(
    facts: Facts, order: Order, in_use: set[str], stopping: set[str]
) -> Iterator[StackAction]:
    """What the state records as running that no stack of the remote head runs: a removal
    or a rename whose stop failed, a check that died after its fast-forward, history
    rewritten away, a stack that became the tool's own or ignored under another name.

    Its files may be gone, so it goes by project name, after its backoff.
    """
    remote, local = facts.remote, facts.local
    for path, record in facts.statuses.items():
        project = record.project
        if project is None or project in in_use or project in stopping:
            continue
        if path in remote.broken or path in order.problems:
            continue  # it cannot be deployed as it is now: keep what runs
        desired = remote.valid.get(path)
        # A new push retries a deployed stack's stop at once; otherwise it waits its turn.
        deployed = desired is not None and desired.role is Role.DEPLOY
        retry = desired.fingerprint if desired is not None and deployed else record.attempted
        if record.retry_at is not None and held(record, retry or "", facts.now):
            continue
        retrying = stop_retry(record, wanted=desired is not None)
        cause: Cause
        if retrying is not None:
            cause = Retry(retrying, record.failures + 1)
        elif desired is not None:
            cause = Renamed(old=project, new=desired.project, stopping_old=True)
        else:
            cause = Removed(facts.branch)
        fingerprint = record.attempted or record.fingerprint or ""
        stopping.add(project)
        yield _stop_by_project(path, project, local.commit, fingerprint, cause)


def _deploys(facts: Facts, order: Order, released: set[str]) -> Iterator[StackAction]:
    """Start what is new, restart what changed since it was deployed, retry what failed."""
    local, remote = facts.local, facts.remote
    for path, stack in remote.valid.items():
        record = facts.statuses.get(path)
        if stack.role is not Role.DEPLOY or path in order.problems:
            continue
        if path not in released and _held(facts, path):
            continue
        before = local.valid.get(path)
        baseline = record.fingerprint if record is not None else _fingerprint(local, path)
        retrying = deploy_retry(record, stack.fingerprint)
        retry = None if retrying is None or record is None else Retry(retrying, record.failures + 1)
        if before is not None and before.project != stack.project:
            cause: Cause = Renamed(old=before.project, new=stack.project, stopping_old=False)
            yield _action(Verb.START, Phase.ADD, stack, remote.commit, cause)
        elif baseline is None:
            yield _action(Verb.START, Phase.ADD, stack, remote.commit, retry or New())
        elif baseline != stack.fingerprint:
            cause = retry or _changed(_files(local, path), stack, record is not None)
            yield _action(Verb.RESTART, Phase.UPDATE, stack, remote.commit, cause)
        elif retry is not None:
            yield _action(Verb.START, Phase.HEAL, stack, remote.commit, retry)


def _heals(
    facts: Facts,
    order: Order,
    touched: set[str],
    stops: tuple[StackAction, ...],
    released: set[str],
) -> Iterator[StackAction]:
    # A stack stopped by hand stays stopped until the remote changes, as the seed does,
    # unless this is the first pass or self-healing was asked for. A stack the state has
    # no record of was never seen settled: it is looked at on every check.
    changed = facts.local.commit != facts.remote.commit
    everything = facts.full_pass or facts.self_heal or changed
    # A project this plan stops with one path that another path still deploys.
    stopped = {action.project: action.stack for action in stops}
    if facts.host is None:
        return
    for path, stack in facts.remote.valid.items():
        if stack.role is not Role.DEPLOY or path in touched or path in order.problems:
            continue
        if not everything and path in facts.statuses:
            continue
        if path not in released and _held(facts, path):
            continue
        seen = not_running_reason(stack.expectation, facts.host.get(stack.project, ()))
        if seen is None and stack.project in stopped:
            seen = f"project {stack.project} stopped with {stopped[stack.project]}"
        if seen is not None:
            cause = NotRunning(seen)
            yield _action(Verb.START, Phase.HEAL, stack, facts.remote.commit, cause)
            continue
        drift = _drifted(facts, stack)
        if drift is not None:
            # Compose recreates only the services whose configuration differs.
            yield _action(Verb.START, Phase.HEAL, stack, facts.remote.commit, drift)


def _image_updates(facts: Facts, order: Order, acted: set[str]) -> Iterator[StackAction]:
    """Pull and recreate the services whose image tags moved, in stacks this plan does
    not act on otherwise (a change or a start pulls every image anyway)."""
    for path, cause in facts.image_updates.items():
        stack = facts.remote.valid.get(path)
        if stack is None or path in acted or path in order.problems or _held(facts, path):
            continue
        yield _action(Verb.RESTART, Phase.UPDATE, stack, facts.remote.commit, cause)


def _drifted(facts: Facts, stack: Stack) -> Drift | None:
    """Why a running stack does not run its files' configuration, or None."""
    expected = facts.configs.get(stack.path)
    if expected is None or facts.host is None:
        return None
    record = facts.statuses.get(stack.path)
    if record is not None and record.rolled_back_from is not None:
        return None  # it runs its last good configuration, on purpose
    directory = stack_directory(facts.clone, stack.path) if facts.clone else None
    containers = facts.host.get(stack.project, ())
    services = drifted(expected, containers, directory)
    if not services:
        return None
    return Drift(services, expected.get(services[0], ""))


def _held(facts: Facts, path: str) -> bool:
    """A failed stack whose files did not change waits for its next try (see retry)."""
    stack = facts.remote.valid.get(path)
    fingerprint = stack.fingerprint if stack is not None else None
    return held_back(facts.statuses.get(path), fingerprint, facts.now)


def _drift(facts: Facts, acted_on: set[str]) -> Iterator[Skip]:
    """Stacks deployed from here that the host does not fully run, and that nothing in
    this plan touches. On a full pass, with --self-heal or a remote change, each of them is
    started instead (see _heals), or waits for its retry."""
    changed = facts.local.commit != facts.remote.commit
    if facts.host is None or facts.full_pass or facts.self_heal or changed:
        return
    for path, stack in sorted(facts.remote.valid.items()):
        if stack.role is not Role.DEPLOY or path in acted_on or path not in facts.statuses:
            continue
        seen = not_running_reason(stack.expectation, facts.host.get(stack.project, ()))
        if seen is not None:
            reason = f"not running: {seen}; left alone until its next change or --self-heal"
            yield Skip(stack=path, project=stack.project, reason=reason)
            continue
        drift = _drifted(facts, stack)
        if drift is not None:
            shown = drifted_text(drift.services, drift.expected)
            reason = f"drifted: {shown}; left alone until its next change or --self-heal"
            yield Skip(stack=path, project=stack.project, reason=reason)


def _waits(facts: Facts) -> list[Skip]:
    waits = []
    for path, record in facts.statuses.items():
        if record.rolled_back_from is not None and _held(facts, path):
            reason = f"{record.error}; its next change, or retry, tries again"
            waits.append(Skip(stack=path, project=record.project or "-", reason=reason))
        elif record.retry_at is not None and _held(facts, path):
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


def _link_warnings(remote: Stacks) -> Iterator[LinkWarning]:
    for path, links in sorted(remote.outside_links.items()):
        stack = remote.valid.get(path)
        if stack is not None and stack.role is Role.DEPLOY:
            yield from (LinkWarning(path, stack.project, link) for link in links)


def _problems(remote: Stacks, order: Order) -> Iterator[Problem]:
    found = [
        Problem(stack=path, project=error.project, reason=error.reason)
        for path, error in remote.broken.items()
    ]
    found += [
        Problem(stack=path, project=remote.valid[path].project, reason=reason)
        for path, reason in order.problems.items()
    ]
    yield from sorted(found, key=lambda each: each.stack)


def _from_here(facts: Facts, action: StackAction) -> StackAction:
    """A start that recreates the services its project runs from another directory than
    the stack's (a project started by hand elsewhere), which ``up`` alone would keep."""
    if action.verb is not Verb.START or facts.host is None or not facts.clone:
        return action
    directory = stack_directory(facts.clone, action.stack)
    found = moved(facts.host.get(action.project, ()), directory)
    return replace(action, moved=found) if found else action


def _action(verb: Verb, phase: Phase, stack: Stack, commit: str, cause: Cause) -> StackAction:
    return StackAction(
        verb=verb,
        phase=phase,
        stack=stack.path,
        project=stack.project,
        compose_files=stack.compose_files,
        commit=commit,
        fingerprint=stack.fingerprint,
        cause=cause,
        build=stack.builds and phase in (Phase.ADD, Phase.UPDATE),
        secret_files=stack.secret_files,
    )


def _stop_by_project(
    path: str, project: str, commit: str, fingerprint: str, cause: Cause
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
        cause=cause,
    )


def _fingerprint(stacks: Stacks, path: str) -> str | None:
    found: Stack | StackError | None = stacks.valid.get(path) or stacks.broken.get(path)
    return None if found is None else found.fingerprint


def _files(stacks: Stacks, path: str) -> Mapping[str, str]:
    found: Stack | StackError | None = stacks.valid.get(path) or stacks.broken.get(path)
    return {} if found is None else found.files


def _changed(before: Mapping[str, str], stack: Stack, from_state: bool) -> Changed:
    after = stack.files
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    # No file differs from the local HEAD, yet it is not what was last deployed: a retry,
    # or a check that ended before it got there.
    mounted = tuple((path, services) for path in changed if (services := stack.mounting(path)))
    return Changed(files=tuple(changed), since_deployment=from_state, mounted=mounted)
