"""Random histories of commits, hand-stopped stacks, failing actions and dying checks.

Each check runs the real loop (shell/check.run_check, driving core/check) on the models of
the repository and the host, with injected failures, any number of jobs and results coming
back in any order, then checks what a user would see. A check may also die after any
action, like a kill -9: nothing it learnt is saved, and the next check must converge.

A known limit the checks allow: when the stop of a stack's old project fails and the
stack is then labelled gitops.ignore (or becomes the tool's own) under a new name in the
same push, the old project keeps running and nothing retries the stop, since the stack is
no longer managed.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.stack import Stacks
from gitops_compose.core.reconcile.action import StackAction
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.order import order_of
from gitops_compose.core.reconcile.outcome import Outcome, StackStatus, Status
from gitops_compose.core.reconcile.plan import Facts, Verb
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.value import replace
from gitops_compose.shell.check import InlineWorkers, run_check

from ..models import ModelHost, ModelRepository
from .builders import BRANCH, PARSING, ROOT_NAME, planned, stacks
from .host_model import Host, is_up
from .repositories import NAMES, StackSpec, paths, render, specs

UNMANAGED = "unmanaged"
EDITS = (
    "env",
    "nested config",
    "image tag",
    "project name",
    "break compose file",
    "fix compose file",
    "ignore label",
    "no label",
)


class Died(Exception):
    """The process was killed after an action."""


class DyingHost(ModelHost):
    """The model host, recording each action with its result; it may die after some."""

    def __init__(self, *args: object, dies_after: int | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.dies_after = dies_after
        self.log: list[tuple[StackAction, bool]] = []

    def carry_out(self, action: StackAction) -> Outcome:
        if self.dies_after is not None and len(self.log) >= self.dies_after:
            raise Died
        outcome = super().carry_out(action)
        self.log.append((action, outcome.ok))
        return outcome


class Reconcile(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.specs: dict[str, StackSpec] = {}  # the remote head
        self.repo = ModelRepository({"c0": render({})}, "c0", "c0")
        self.host: Host = {UNMANAGED: (Container("app", "running"),)}
        self.state = State()
        self.statuses: dict[str, StackStatus] = {}
        self.networks: set[str] = set()
        self.now = 1_000_000.0
        # Stack paths whose last action failed; projects whose stop failed.
        self.failed: set[str] = set()
        self.stop_failed: set[str] = set()
        # Projects stopped by hand since the last check that looked at everything.
        self.hand_stopped: set[str] = set()
        # Projects the tool never stops (the controller's, ignored stacks'), ever seen.
        self.left_alone: set[str] = set()
        # Stack path -> project it had when its compose file last parsed.
        self.last_known: dict[str, str] = {}

    # --- commits ----------------------------------------------------------------------------

    @initialize(first=st.dictionaries(paths, specs, min_size=2, max_size=6))
    def clone(self, first: dict[str, StackSpec]) -> None:
        self.specs = dict(first)

    @rule(path=paths, spec=specs.map(lambda spec: spec.edited(broken=False)))
    def add_stack(self, path: str, spec: StackSpec) -> None:
        self.specs[path] = spec

    @rule(path=paths, controller=st.booleans())
    def add_controller_or_ignored_stack(self, path: str, controller: bool) -> None:
        self.specs[path] = StackSpec(role="controller" if controller else "ignored")

    @precondition(lambda self: self.specs)
    @rule(data=st.data(), change=st.sampled_from(EDITS), name=st.sampled_from((None, *NAMES)))
    def edit_stack(self, data: st.DataObject, change: str, name: str | None) -> None:
        path = self._pick(data)
        spec = self.specs[path]
        self.specs[path] = {
            "env": lambda: spec.edited(env=spec.env + "X=1\n"),
            "nested config": lambda: spec.edited(config=(spec.config or "") + "gzip on;\n"),
            "image tag": lambda: spec.edited(tag=spec.tag + 1),
            "project name": lambda: spec.edited(name=name),
            "break compose file": lambda: spec.edited(broken=True),
            "fix compose file": lambda: spec.edited(broken=False),
            "ignore label": lambda: spec.edited(role="ignored"),
            "no label": lambda: spec.edited(role="deploy"),
        }[change]()

    @precondition(lambda self: self.specs)
    @rule(data=st.data(), destination=paths)
    def move_stack(self, data: st.DataObject, destination: str) -> None:
        path = self._pick(data)
        if destination not in self.specs:
            self.specs[destination] = self.specs.pop(path)

    @precondition(lambda self: self.specs)
    @rule(data=st.data())
    def remove_stack(self, data: st.DataObject) -> None:
        del self.specs[self._pick(data)]

    # --- the host ---------------------------------------------------------------------------

    @precondition(lambda self: len(self.host) > 1)
    @rule(data=st.data(), remove=st.booleans())
    def stop_by_hand(self, data: st.DataObject, remove: bool) -> None:
        project = data.draw(st.sampled_from(sorted(set(self.host) - {UNMANAGED})))
        if remove:  # docker compose down
            del self.host[project]
        else:  # docker compose stop
            self.host[project] = tuple(
                Container(each.service, "exited", 137) for each in self.host[project]
            )
        self.hand_stopped.add(project)

    # --- a check ----------------------------------------------------------------------------

    @rule(
        full_pass=st.booleans(),
        self_heal=st.booleans(),
        wait=st.sampled_from((0.0, 30.0, 90.0, 600.0)),
        data=st.data(),
    )
    def check(self, full_pass: bool, self_heal: bool, wait: float, data: st.DataObject) -> None:
        self._check(full_pass, self_heal, wait, data)

    @rule(data=st.data())
    def check_an_hour_later(self, data: st.DataObject) -> None:
        self._check(full_pass=False, self_heal=False, wait=3600.0, data=data)

    @rule(dies_after=st.integers(0, 6), data=st.data())
    def check_and_die_after_an_action(self, dies_after: int, data: st.DataObject) -> None:
        """Killed after some actions: the host and the clone keep what was done, the state
        does not (it is saved when a check ends)."""
        self._check(full_pass=False, self_heal=False, wait=30.0, data=data, dies_after=dies_after)

    def _commit(self) -> str:
        """The remote head: a new commit when the files changed."""
        files = render(self.specs)
        last = list(self.repo.commits)[-1]
        if self.repo.commits[last] != files:
            last = f"c{len(self.repo.commits)}"
            self.repo.commits[last] = files
        self.repo.remote = last
        return last

    def _check(
        self,
        full_pass: bool,
        self_heal: bool,
        wait: float,
        data: st.DataObject,
        dies_after: int | None = None,
    ) -> None:
        self.now += wait
        local = stacks(self.repo.commits[self.repo.local])
        remote = stacks(self.repo.commits[self._commit()])
        known = sorted(local.valid.keys() | local.broken.keys() | remote.valid.keys())
        failures = data.draw(st.sets(st.sampled_from(known)) if known else st.just(set()))
        host = DyingHost(
            self.repo, running=dict(self.host), failing=failures, dies_after=dies_after
        )
        host.networks = set(self.networks)
        jobs = data.draw(st.sampled_from((1, 2, 4)))
        workers = InlineWorkers(self.repo, host, pick=lambda n: data.draw(st.integers(0, n - 1)))
        state = replace(self.state, full_pass_done=False) if full_pass else self.state
        settings = CheckSettings(BRANCH, ROOT_NAME, self_heal=self_heal, jobs=jobs, parsing=PARSING)
        try:
            report = run_check(
                self.repo, host, state, settings, now=lambda: self.now, workers=workers
            )
        except Died:
            self.host, self.networks = host.running, host.networks
            # What it started runs under those names, though no state says so.
            for action, ok in host.log:
                if ok and action.verb is not Verb.STOP:
                    self.last_known[action.stack] = action.project
            return  # nothing saved: the next check must finish the work
        self.host, self.networks = host.running, host.networks
        self.state = report.state
        self.statuses = dict(report.state.stacks)
        facts = Facts(
            local=local,
            remote=remote,
            branch=BRANCH,
            remote_descends=True,
            host=None,
            full_pass=not state.full_pass_done,
            self_heal=self_heal,
        )
        # Stacks that cannot be deployed as they are: what ran of them keeps running.
        problems = remote.broken.keys() | order_of(remote).problems.keys()
        self._remember(
            facts, report.outcomes, full_pass or self_heal or not state.full_pass_done, problems
        )

        self._assert_started_only_after_dependencies(host.log)
        self._assert_desired_stacks_run(remote, problems)
        self._assert_nothing_else_runs(remote, problems)
        self._assert_statuses(facts, problems)
        self._assert_counts(report)
        self._assert_planning_again_does_only_what_is_left(remote)

    def _remember(
        self,
        facts: Facts,
        outcomes: tuple[Outcome, ...],
        looked_at_all: bool,
        problems: set[str],
    ) -> None:
        remote = facts.remote
        if looked_at_all or facts.local.commit != remote.commit:
            self.hand_stopped.clear()
        # A stack failed in this check when any of its actions did (a rename has two,
        # which may finish in any order).
        failed_now = {each.action.stack for each in outcomes if not each.ok}
        self.failed -= {each.action.stack for each in outcomes} - failed_now
        self.failed |= failed_now
        for outcome in outcomes:
            action = outcome.action
            if outcome.ok:
                if action.verb is Verb.STOP:
                    self.stop_failed.discard(action.project)
                else:
                    self.hand_stopped.discard(action.project)
            elif action.verb is Verb.STOP:
                self.stop_failed.add(action.project)
        for found in (facts.local, remote):
            self.left_alone |= {
                each.project for each in found.valid.values() if each.role is not Role.DEPLOY
            }
        self.last_known.update(
            {path: each.project for path, each in remote.valid.items() if path not in problems}
        )

    # --- what a user would see --------------------------------------------------------------

    def _assert_started_only_after_dependencies(self, log: list[tuple[StackAction, bool]]) -> None:
        succeeded: set[str] = set()
        for action, ok in log:
            if action.verb is Verb.STOP:
                continue
            early = [each for each in action.after if each not in succeeded]
            assert early == [], f"{action.stack} started before {early} succeeded"
            if ok:
                succeeded.add(action.stack)

    def _assert_counts(self, report: CheckReport) -> None:
        if report.tally is None:
            return
        counted = report.tally
        assert counted.deployments_ok + counted.deployments_failed == len(report.outcomes)
        assert sum(counted.active.values()) == len(self.statuses)

    def _assert_desired_stacks_run(self, remote: Stacks, problems: set[str]) -> None:
        down = [
            path
            for path, stack in remote.valid.items()
            if stack.role is Role.DEPLOY
            and path not in problems
            and path not in self.failed
            and stack.project not in self.hand_stopped
            and not is_up(self.host, stack)
        ]
        assert down == [], f"desired stacks not running: {down}"

    def _assert_nothing_else_runs(self, remote: Stacks, problems: set[str]) -> None:
        wanted = {each.project for each in remote.valid.values()}
        kept = {self.last_known[path] for path in problems if path in self.last_known}
        guessed = {each.project for each in remote.broken.values() if each.project}
        allowed = (wanted | kept | guessed | self.left_alone | self.stop_failed) | {UNMANAGED}
        orphans = sorted(set(self.host) - allowed)
        assert orphans == [], f"projects nobody wants still have containers: {orphans}"

    def _assert_statuses(self, facts: Facts, problems: set[str]) -> None:
        remote, statuses = facts.remote, self.statuses
        for path in remote.broken.keys() | problems:
            assert statuses[path].status is Status.ERROR
        left_alone = set()
        for path, stack in remote.valid.items():
            if stack.role is Role.DEPLOY:
                ok = path in self.failed or path in problems or statuses[path].status is Status.OK
                assert ok, statuses[path]
            elif path in statuses:
                # Listed only while a stop of the project it had before failed (a stack
                # renamed and labelled gitops.ignore in one push); a broken local file
                # leaves that name to the saved status.
                assert statuses[path].status is Status.REMOVAL_FAILED
                assert statuses[path].project != stack.project
                left_alone.add(path)
        removal_failed = {p for p, s in statuses.items() if s.status is Status.REMOVAL_FAILED}
        present = remote.valid.keys() | remote.broken.keys()
        assert removal_failed & present == left_alone

    def _assert_planning_again_does_only_what_is_left(self, remote: Stacks) -> None:
        """A full pass right after the check starts stacks stopped by hand and retries
        failures; with neither, it plans nothing."""
        again = Facts(
            local=remote,
            remote=remote,
            branch=BRANCH,
            remote_descends=True,
            host=dict(self.host),
            full_pass=True,
            statuses=self.statuses,
            now=self.now,
        )
        left = [
            (each.verb, each.stack, each.project)
            for each in planned(again).stack_actions
            if each.stack not in self.failed
            and (each.verb is not Verb.START or each.project not in self.hand_stopped)
        ]
        assert left == []

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.specs)))


Reconcile.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestReconcile = Reconcile.TestCase
