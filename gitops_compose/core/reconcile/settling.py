"""The end of a check that acted: one more look at the host, then how the check settles.

The statuses follow the outcomes (verdict.statuses_after), then what the host runs; the
counters take the tally; the report says what the next check starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, final

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.reconcile.action import FastForward, StackAction, Verb
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.configuration import ExpectedConfig, expected_config
from gitops_compose.core.reconcile.conversation import (
    CheckReport,
    LookAtDigests,
    LookAtHost,
    LookAtImages,
    Request,
)
from gitops_compose.core.reconcile.counting import counters_after
from gitops_compose.core.reconcile.full_pass import full_pass_done
from gitops_compose.core.reconcile.image import RunningImage, RunningImages
from gitops_compose.core.reconcile.image_update import (
    deployed_images,
)
from gitops_compose.core.reconcile.looking import baseline, closing, on_host
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.stage import Check
from gitops_compose.core.reconcile.status import Status
from gitops_compose.core.reconcile.verdict import statuses_after, tally
from gitops_compose.core.value import replace

if TYPE_CHECKING:
    from returns.result import Result

    from gitops_compose.core.compose.stack import Stacks
    from gitops_compose.core.reconcile.running import Ground
    from gitops_compose.core.reconcile.runtime import HostState
    from gitops_compose.core.reconcile.schedule import Schedule
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.core.reconcile.status import StackStatus


@final
class LookingAfter(Check):
    """The actions are over: the containers once more, so the statuses say what runs."""

    ground: Ground
    schedule: Schedule
    outcomes: tuple[Outcome, ...]
    failure: CheckFailure | None

    def _next(self, now: float) -> tuple[Check, Request]:
        return self, LookAtHost()

    def host_seen(self, found: Result[HostState, str]) -> Check:
        # Not seeing them now fails nothing: the statuses follow the outcomes instead.
        after = found.value_or(None)
        deployed = tuple(
            dict.fromkeys(
                each.action.project
                for each in self.outcomes
                if each.ok and each.action.verb is not Verb.STOP
            )
        )
        seen = self.context, self.ground, self.schedule, self.outcomes, self.failure, after
        if not deployed or after is None:
            return Settling(*seen)
        gated = [each for each in self.outcomes if each.ok and each.action.verb is not Verb.STOP]
        if all(each.images for each in gated):
            # Their gates saw the image each service runs: only its digests are missing.
            return LookingAtDeployed(*seen, deployed, gated_images(gated))
        return LookingAtDeployed(*seen, deployed)


@final
class LookingAtDeployed(Check):
    """Stacks were deployed: the image each of their services now runs (id and
    repository digest), to record in the state."""

    ground: Ground
    schedule: Schedule
    outcomes: tuple[Outcome, ...]
    failure: CheckFailure | None
    after: HostState | None
    projects: tuple[str, ...]
    # Project -> service -> image id, when the health gates saw them all.
    known: Mapping[str, Mapping[str, str]] | None = None

    def _next(self, now: float) -> tuple[Check, Request]:
        if self.known is not None:
            ids = sorted({image for each in self.known.values() for image in each.values()})
            return self, LookAtDigests(tuple(ids))
        return self, LookAtImages(self.projects)

    def images_seen(self, found: Result[RunningImages, str]) -> Check:
        seen = self.context, self.ground, self.schedule, self.outcomes, self.failure
        return Settling(*seen, self.after, found.value_or(None))

    def digests_seen(self, found: Result[Mapping[str, tuple[str, ...]], str]) -> Check:
        digests = found.value_or({})
        known = self.known or {}
        running = {
            project: {
                service: RunningImage(image, digests.get(image, ()))
                for service, image in services.items()
            }
            for project, services in known.items()
        }
        seen = self.context, self.ground, self.schedule, self.outcomes, self.failure
        return Settling(*seen, self.after, running)


def gated_images(outcomes: Sequence[Outcome]) -> dict[str, dict[str, str]]:
    """Project -> service -> the image id its gate saw it run."""
    found: dict[str, dict[str, str]] = {}
    for each in outcomes:
        found.setdefault(each.action.project, {}).update(dict(each.images))
    return found


@final
class Settling(Check):
    """Everything is in: ``after`` is the host once the actions were over (None when it
    was not seen, or nothing ran)."""

    ground: Ground
    schedule: Schedule
    outcomes: tuple[Outcome, ...]
    failure: CheckFailure | None
    after: HostState | None
    # The images the deployed stacks' services run, when they were looked at.
    images: RunningImages | None = None

    def _next(self, now: float) -> tuple[Check, Request]:
        return closing(self.context, self._report(now), now).next(now)

    def _report(self, now: float) -> CheckReport:
        context, ground, schedule = self.context, self.ground, self.schedule
        heads, found = ground.heads, ground.plan
        state = replace(context.state, desired_commit=heads.remote)
        left = schedule.left()
        failure = self.failure
        if failure is None and left:
            failure = CheckFailure(
                f"stopped before the end; {len(left)} action(s) left for the next check"
            )
        moved = not schedule.fast_forward_failed and not any(
            isinstance(each, FastForward) for each in left
        )
        # Until the fast-forward happened, the host runs what the local HEAD describes.
        desired = ground.remote if moved else ground.local
        before = context.state.stacks
        settled = statuses_after(before, found, self.outcomes, desired, context.began)
        for action in left if moved else ():
            # Never tried, though the clone moved on: the stack stays as the state knew it
            # (or unknown), so the next check acts on it.
            if isinstance(action, StackAction):
                known = before.get(action.stack)
                if known is None:
                    settled.pop(action.stack, None)
                else:
                    settled[action.stack] = known
        configs = self._configs(state.configs, settled, desired)
        settled = self._on_host(settled, desired, replace(state, configs=configs))
        settled = self._with_images(settled, desired)
        counts = tally(found, self.outcomes, settled)
        ok = failure is None
        after = replace(
            state,
            stacks=settled,
            configs=configs,
            counters=counters_after(context.counting, did_all=ok, at=now),
            ignored=sum(1 for each in desired.valid.values() if each.role is Role.IGNORED),
            full_pass_done=full_pass_done(state, context.settings.daemon_starting, passed=ok),
            settled_commit=heads.remote if ok else state.settled_commit,
        )
        return CheckReport(
            failure=failure,
            state=after,
            heads=heads,
            plan=found,
            outcomes=self.outcomes,
            tally=counts,
            left=left,
            head=heads.remote if moved else heads.local,
        )

    def _configs(
        self,
        kept: Mapping[str, ExpectedConfig],
        settled: Mapping[str, StackStatus],
        desired: Stacks,
    ) -> dict[str, ExpectedConfig]:
        """The kept hashes, with those a stack runs after a deployment of it went well:
        what Compose made from its files in this environment is what it is expected to
        run, read from the labels it stamped, so a deployed stack needs no ``config
        --hash`` (a rolled-back one runs its last good files, not judged)."""
        configs = {path: config for path, config in kept.items() if path in desired.valid}
        if self.after is None:
            return configs
        for outcome in self.outcomes:
            path = outcome.action.stack
            record = settled.get(path)
            if outcome.error is not None or record is None or record.project is None:
                continue
            stack = desired.valid.get(path)
            if record.rolled_back_from is not None or stack is None:
                continue
            if record.fingerprint != stack.fingerprint:
                continue
            hashes = {
                each.service: each.config_hash
                for each in self.after.get(record.project, ())
                if each.config_hash is not None
            }
            if hashes:
                environment = self.context.settings.environment
                configs[path] = expected_config(
                    stack.fingerprint, stack.variables_read, environment, hashes
                )
        return configs

    def _with_images(
        self, stacks: dict[str, StackStatus], desired: Stacks
    ) -> dict[str, StackStatus]:
        """Each stack deployed well with the image id and repository digest each of its
        services runs now: what ``status`` shows and a rollback brings back."""
        if self.images is None:
            return stacks
        for outcome in self.outcomes:
            path = outcome.action.stack
            record = stacks.get(path)
            if outcome.error is not None or outcome.action.verb is Verb.STOP or record is None:
                continue
            running = self.images.get(outcome.action.project)
            if not running or record.status is not Status.OK or record.rolled_back_from:
                continue
            ids, digests = deployed_images(desired.valid.get(path), running)
            stacks[path] = replace(record, images=ids, digests=digests)
        return stacks

    def _on_host(
        self,
        stacks: Mapping[str, StackStatus],
        desired: Stacks,
        state: State,
    ) -> dict[str, StackStatus]:
        """Each stack's record with what it should run (as its files say) and whether the
        host runs it, from the last look at the containers. A stack acted on when the host
        could not be looked at afterwards runs if its action went well."""
        expected: dict[str, StackStatus] = {}
        for path, record in stacks.items():
            stack = desired.valid.get(path)
            # What runs is what was deployed: the files read say what that runs when they
            # are those (not after a failed change, or a rollback), or nothing is known yet.
            deployed = stack is not None and record.fingerprint == stack.fingerprint
            fresh = record.expects is None or deployed
            if stack is not None and stack.role is Role.DEPLOY and fresh:
                expected[path] = replace(record, expects=stack.expectation)
            else:
                expected[path] = record
        if self.after is not None:
            return on_host(expected, self.after, {}, baseline(self.context, state))
        acted = {each.action.stack: each.error for each in self.outcomes}
        return on_host(expected, self.ground.host, acted, baseline(self.context, state))
