"""The stages of a check that has work: reading the commits, looking, and planning.

From the heads a check reads both commits' stacks, looks at the host (and, when a stack
needs a network or volume no stack creates, at the host's networks and volumes) and
plans. A plan that cannot be made ends the check before anything is touched; a plan made
is handed to the shell (``Planned``) and told as events, then the check runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.stack import Stacks, contents_needed, for_swarm, stacks_of
from gitops_compose.core.reconcile.action import Verb
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.configuration import ConfigQuestion, expected_config
from gitops_compose.core.reconcile.conversation import (
    AskRegistry,
    Heads,
    LookAtConfig,
    LookAtHost,
    LookAtImages,
    LookAtResources,
    Planned,
    ReadCommits,
    Request,
)
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.event import (
    Event,
    ImagesChecked,
    ImageUnchecked,
    LinkOutside,
    StackInvalid,
    StackPlanned,
    SubtreeMissing,
)
from gitops_compose.core.reconcile.image import RunningImages
from gitops_compose.core.reconcile.image_check import image_check_due
from gitops_compose.core.reconcile.image_update import (
    Followed,
    ImageFindings,
    ImageTag,
    any_followed,
    followed,
    image_findings,
    tags_to_ask,
)
from gitops_compose.core.reconcile.looking import Ending, full_pass
from gitops_compose.core.reconcile.plan import Facts, Plan, plan
from gitops_compose.core.reconcile.running import Ground, Running
from gitops_compose.core.reconcile.schedule import schedule_of
from gitops_compose.core.reconcile.stage import Check, Context
from gitops_compose.core.value import replace

if TYPE_CHECKING:
    from gitops_compose.core.compose.resource import Resource
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.runtime import HostState
    from gitops_compose.core.reconcile.state import State


def reading_commits(context: Context, heads: Heads) -> Check:
    """Where a check with work goes from the heads: a history that was rewritten is refused
    before any tree is read (the plan says so), else both commits are read."""
    if not heads.remote_descends:
        return planned(
            context, heads, Stacks(heads.local, {}, {}), Stacks(heads.remote, {}, {}), None
        )
    return ReadingCommits(context, heads)


@final
class ReadingCommits(Check):
    heads: Heads

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, ReadCommits(tuple(dict.fromkeys((self.heads.local, self.heads.remote))))

    def contents_needed(self, snapshot: Snapshot) -> frozenset[str]:
        settings = self.context.settings
        return contents_needed(snapshot, settings.parsing, settings.scope)

    def commits_read(self, snapshots: Mapping[str, Snapshot]) -> Check:
        heads, settings = self.heads, self.context.settings
        root, parsing, scope = settings.root_name, settings.parsing, settings.scope
        local = stacks_of(snapshots[heads.local], root, parsing, scope)
        remote = (
            local
            if heads.remote == heads.local
            else stacks_of(snapshots[heads.remote], root, parsing, scope)
        )
        if self.context.settings.engine is Engine.SWARM:
            local, remote = for_swarm(local), for_swarm(remote)
        # A subtree the remote head lacks holds no stack: said, never an error, as an
        # operator may push it later (and a typo in --path must stop nothing).
        context = self.context.telling(
            *(SubtreeMissing(each, heads.remote, self.context.began) for each in remote.missing)
        )
        return LookingToPlan(context, heads, local, remote)


@final
class LookingToPlan(Check):
    """The commits are read: the containers, before planning."""

    heads: Heads
    local: Stacks
    remote: Stacks

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtHost()

    def host_seen(self, found: Result[HostState, str]) -> Check:
        if isinstance(found, Failure):
            failure = CheckFailure(f"reading the containers failed: {found.failure()}")
            return Ending(self.context, self.heads, None, failure)
        host = found.unwrap()
        context = self.context
        settings = context.settings.images
        follows = any_followed(self.remote, settings)
        due = image_check_due(
            replace(context.state, images_followed=follows), settings, context.began
        )
        state = replace(context.state, images_followed=follows)
        if due:
            state = replace(state, images_checked=context.began)
        context = replace(context, state=state)
        services = followed(self.remote, settings, host) if due else ()
        if services:
            return LookingAtImages(context, self.heads, self.local, self.remote, host, services)
        if due:
            context = replace(context, images=ImageFindings())
        return configured(context, self.heads, self.local, self.remote, host)


def configured(
    context: Context, heads: Heads, local: Stacks, remote: Stacks, host: HostState
) -> Check:
    """On to planning once the configuration hashes the plan needs are known."""
    asking = config_questions(context, heads, local, remote, host)
    if asking:
        return LookingAtConfig(context, heads, local, remote, host, asking)
    return planned(context, heads, local, remote, host)


@final
class LookingAtImages(Check):
    """An image check is due: the images the followed services run, then their tags'
    digests in the registries (see image_update)."""

    heads: Heads
    local: Stacks
    remote: Stacks
    host: HostState
    services: tuple[Followed, ...]

    def _next(self, now: float) -> tuple[Check, Request]:
        projects = tuple(dict.fromkeys(each.project for each in self.services))
        return self, LookAtImages(projects)

    def images_seen(self, found: Result[RunningImages, str]) -> Check:
        seen = self.context, self.heads, self.local, self.remote, self.host, self.services
        return AskingRegistry(*seen, found)


@final
class AskingRegistry(Check):
    """The digest of each distinct tag the followed services use, from its registry."""

    heads: Heads
    local: Stacks
    remote: Stacks
    host: HostState
    services: tuple[Followed, ...]
    running: Result[RunningImages, str]

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, AskRegistry(tags_to_ask(self.services))

    def registry_seen(self, found: Mapping[ImageTag, Result[str, str]], now: float) -> Check:
        context = self.context
        settings, before = context.settings.images, context.state.image_digests
        findings = image_findings(self.services, self.running, found, before, settings, now)
        state = replace(context.state, image_digests=findings.seen)
        cooling = sum(1 for each in findings.pending if not each.taken)
        told = replace(context, state=state, images=findings).telling(
            ImagesChecked(
                findings.asked, len(findings.pending), cooling, len(findings.warnings), now
            ),
            *(
                ImageUnchecked(each.stack, each.project, each.image, each.reason, now)
                for each in findings.warnings
            ),
        )
        return configured(told, self.heads, self.local, self.remote, self.host)


@final
class LookingAtConfig(Check):
    """Running stacks whose expected configuration is not known for their files: asked of
    Compose before planning, and kept in the state for the next checks."""

    heads: Heads
    local: Stacks
    remote: Stacks
    host: HostState
    asking: tuple[ConfigQuestion, ...]

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtConfig(self.asking)

    def config_seen(self, found: Mapping[str, Result[Mapping[str, str], str]]) -> Check:
        configs = dict(self.context.state.configs)
        environment = self.context.settings.environment
        for path, hashes in found.items():
            stack = self.remote.valid.get(path)
            if stack is not None and isinstance(hashes, Success):
                configs[path] = expected_config(
                    stack.fingerprint, stack.variables_read, environment, hashes.unwrap()
                )
        # A stack Compose could not tell of is judged as before: by whether it runs.
        state = replace(self.context.state, configs=configs)
        context = replace(self.context, state=state)
        return planned(context, self.heads, self.local, self.remote, self.host)


def config_questions(
    context: Context, heads: Heads, local: Stacks, remote: Stacks, host: HostState
) -> tuple[ConfigQuestion, ...]:
    """The stacks to ask Compose the configuration of: on a full pass, with --self-heal
    or for a plan, each deployed stack that runs, whose kept hashes are not for its files
    and environment, and that the plan does not deploy anyway: not a stack whose files
    differ from what it was deployed from, nor one the plan starts or restarts for another
    reason. Their hashes are read off the containers their ``up`` makes (see settling), so
    an apply of N changed stacks makes no ``config --hash`` call before its N ``up``.
    Never on an idle check; a rolled-back stack runs its last good files."""
    settings = context.settings
    if not (settings.always or settings.self_heal or full_pass(context, heads)):
        return ()
    state = context.state
    unknown = []
    for path, stack in sorted(remote.valid.items()):
        if stack.role is not Role.DEPLOY or not host.get(stack.project):
            continue
        if stack.secret_files:
            # Compose hashes what its files say: decrypted, which a check that starts
            # nothing never does. Such a stack is judged by whether it runs.
            continue
        record = state.stacks.get(path)
        if record is not None and record.rolled_back_from is not None:
            continue
        before = local.valid.get(path)
        deployed_from = record.fingerprint if record is not None else None
        if deployed_from is None and before is not None:
            deployed_from = before.fingerprint
        if deployed_from is not None and deployed_from != stack.fingerprint:
            continue  # deployed anyway, with these files
        kept = state.configs.get(path)
        if kept is None or not kept.holds(stack.fingerprint, settings.environment):
            unknown.append(stack)
    if not unknown:
        return ()
    made = plan(facts_of(context, heads, local, remote, host, resources=None))
    acting = {each.stack for each in made.map(lambda found: found.stack_actions).value_or(())}
    return tuple(
        ConfigQuestion(stack.path, stack.project, stack.compose_files)
        for stack in unknown
        if stack.path not in acting
    )


def expected_configs(
    state: State, remote: Stacks, environment: Mapping[str, str]
) -> dict[str, Mapping[str, str]]:
    """Each stack's expected hashes, where the state keeps them for its files and
    environment."""
    found: dict[str, Mapping[str, str]] = {}
    for path, config in state.configs.items():
        stack = remote.valid.get(path)
        if stack is not None and config.holds(stack.fingerprint, environment):
            found[path] = dict(config.hashes)
    return found


@final
class LookingAtResources(Check):
    """A stack needs a network or volume that no stack creates: the host's, by name."""

    heads: Heads
    local: Stacks
    remote: Stacks
    host: HostState | None

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtResources()

    def resources_seen(self, found: Result[frozenset[Resource], str]) -> Check:
        if isinstance(found, Failure):
            reason = found.failure()
            failure = CheckFailure(f"reading the networks and volumes failed: {reason}")
            return Ending(self.context, self.heads, self.host, failure)
        resources = found.unwrap()
        seen = self.context, self.heads, self.local, self.remote, self.host
        return planned(*seen, resources=resources)


@final
class PlanMade(Check):
    """The plan, to hand to the shell before anything runs."""

    ground: Ground

    def _next(self, now: float) -> tuple[Check, Request]:
        found = self.ground.plan
        schedule = schedule_of(found.actions, found.blocked, self.context.settings.jobs)
        told = self.context.telling(*planned_events(found, now))
        return Running(told, self.ground, schedule), Planned(found)


def planned(
    context: Context,
    heads: Heads,
    local: Stacks,
    remote: Stacks,
    host: HostState | None,
    *,
    resources: frozenset[Resource] | None = None,
) -> Check:
    """The plan from what was read and seen, or why there is none (the check ends)."""
    made = plan(facts_of(context, heads, local, remote, host, resources=resources))
    if isinstance(made, Failure):
        return Ending(context, heads, host, made.failure())
    found = replace(made.unwrap(), images=context.images)
    if found.needs_resources:
        return LookingAtResources(context, heads, local, remote, host)
    deploys = frozenset(each.stack for each in found.stack_actions if each.verb is not Verb.STOP)
    return PlanMade(context, Ground(heads, local, remote, host, found, deploys))


def facts_of(
    context: Context,
    heads: Heads,
    local: Stacks,
    remote: Stacks,
    host: HostState | None,
    *,
    resources: frozenset[Resource] | None,
) -> Facts:
    """What the plan is made from, as this check read and saw it."""
    settings = context.settings
    return Facts(
        local=local,
        remote=remote,
        branch=settings.branch,
        remote_descends=heads.remote_descends,
        host=host,
        full_pass=full_pass(context, heads),
        self_heal=settings.self_heal,
        statuses=context.state.stacks,
        now=context.began,
        resources=resources,
        configs=expected_configs(context.state, remote, settings.environment),
        clone=settings.clone,
        image_updates=context.images.updates() if context.images is not None else {},
    )


def planned_events(found: Plan, now: float) -> tuple[Event, ...]:
    """What the plan says, as events: its problems, its links out of the repository, and
    each stack action."""
    return (
        *(StackInvalid(each.stack, each.project, each.reason, now) for each in found.problems),
        *(LinkOutside(each.stack, each.project, each.link, now) for each in found.warnings),
        *(StackPlanned(each, now) for each in found.stack_actions),
    )
