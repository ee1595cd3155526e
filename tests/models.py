"""Models of the repository and the host behind the check loop's protocols (no git, no Docker).

The same models serve the loop's unit tests and the hypothesis state machine, which run the
real loop (shell/check.run_check) on them. The host is a dict ``project -> containers``; a
start gives every service the stack starts one fresh container (running, or exited 0 for a
one-shot service), a stop removes the project's containers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.resource import Resource
from gitops_compose.core.compose.snapshot import Snapshot
from gitops_compose.core.compose.stack import Stack, Stacks, stacks_of
from gitops_compose.core.reconcile.action import Rollback, StackAction, Verb
from gitops_compose.core.reconcile.check import Heads
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.configuration import ConfigQuestion
from gitops_compose.core.reconcile.image import RunningImage, RunningImages
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.runtime import Container, ContainerHealth, Health, HostState
from gitops_compose.core.value import replace

from .core.builders import PARSING, ROOT_NAME, read_as_the_shell_does

INJECTED = "injected failure: pull access denied"


def blob(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class ModelRepository:
    """Commits by name, in the order of history; ``local`` is HEAD, ``remote`` the fetch."""

    commits: dict[str, Mapping[str, str]]
    local: str
    remote: str
    dirty: list[str] = field(default_factory=list)
    fast_forward_error: str | None = None
    snapshots_read: list[str] = field(default_factory=list)
    _stacks: dict[str, Stacks] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return ROOT_NAME

    def check_branch(self) -> Result[None, CheckFailure]:
        return Success(None)

    def dirty_paths(self) -> list[str]:
        return self.dirty

    def fetch(self) -> Result[Heads, CheckFailure]:
        order = list(self.commits)
        descends = order.index(self.local) <= order.index(self.remote)
        return Success(Heads(self.local, self.remote, descends))

    def snapshot(self, commit: str) -> Snapshot:
        self.snapshots_read.append(commit)
        files = self.commits[commit]
        blobs = {path: blob(text) for path, text in files.items()}
        return read_as_the_shell_does(Snapshot(commit=commit, blobs=blobs), files)

    def fast_forward(self, target: str) -> Result[None, str]:
        if self.fast_forward_error is not None:
            return Failure(self.fast_forward_error)
        self.local = target
        return Success(None)

    def blobs(self, ids: Sequence[str]) -> Mapping[str, bytes]:
        every = {
            blob(text): text.encode() for files in self.commits.values() for text in files.values()
        }
        return {each: every[each] for each in ids if each in every}

    def stack(self, commit: str, path: str) -> Stack:
        if commit not in self._stacks:
            files = self.commits[commit]
            blobs = {each: blob(text) for each, text in files.items()}
            snapshot = read_as_the_shell_does(Snapshot(commit=commit, blobs=blobs), files)
            self._stacks[commit] = stacks_of(snapshot, ROOT_NAME, PARSING)
        return self._stacks[commit].valid[path]


@dataclass
class ModelHost:
    """``repository`` gives the stacks an action starts; actions on the stack paths in
    ``failing`` fail and leave the host as it was."""

    repository: ModelRepository
    running: dict[str, tuple[Container, ...]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    # Stack paths whose containers exit 1 right after a start that went well.
    crashing: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    done: list[tuple[str, str]] = field(default_factory=list)
    looked: int = 0
    inspected: int = 0
    # Project -> the health Docker reports for all its containers (e.g. "unhealthy").
    unhealthy: dict[str, str] = field(default_factory=dict)
    rollback_error: str | None = None
    # Commits whose stacks' containers exit 1 right after their start.
    crashing_commits: set[str] = field(default_factory=set)
    # Project -> the image id its containers run (the fingerprint they were started from).
    images: dict[str, str] = field(default_factory=dict)
    # Stack paths whose up replaces their containers, then fails (a half-done up).
    failing_half_way: set[str] = field(default_factory=set)
    # The time now (the tests' clock sets it), and when each project's containers were made.
    time: float = 0.0
    made: dict[str, float] = field(default_factory=dict)
    compose_missing: str | None = None
    # Stack path -> the configuration hashes Compose would give its services.
    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    configs_asked: list[str] = field(default_factory=list)
    # Image looks (see running_images), and the repository digests every image has.
    images_looked: int = 0
    digests: tuple[str, ...] = ()

    def compose_problem(self) -> str | None:
        return self.compose_missing

    def config(self, question: ConfigQuestion) -> Result[Mapping[str, str], str]:
        self.configs_asked.append(question.stack)
        return Success(self.configs.get(question.stack, {}))

    def state(self) -> Result[HostState, str]:
        self.looked += 1
        return Success(dict(self.running))

    def health(self, projects: Sequence[str]) -> Result[Health, str]:
        self.inspected += 1
        return Success(
            {
                project: tuple(
                    ContainerHealth(
                        id=f"{project}/{each.service}/{index}",
                        service=each.service,
                        state=each.state,
                        exit_code=each.exit_code,
                        health=self.unhealthy.get(project),
                        failing_streak=3 if project in self.unhealthy else 0,
                        ran=2.0 if each.state == "exited" else None,
                        image=self.images.get(project, ""),
                        created=self.made.get(project),
                    )
                    for index, each in enumerate(self.running[project])
                )
                for project in projects
                if project in self.running
            }
        )

    def roll_back(self, action: Rollback, files: Mapping[str, bytes]) -> str | None:
        self.done.append(("rollback", action.stack))
        if self.rollback_error is not None:
            return self.rollback_error
        old = self.repository.stack(action.commit, action.stack)
        assert set(files) == set(old.files)  # every file it ran from, read from git
        assert dict(action.images) == {"web": f"sha256:{old.fingerprint}"}  # as it ran then
        self.running[action.project] = containers_for(old)
        self.images[action.project] = f"sha256:{old.fingerprint}"
        return None

    def logs(self, containers: Sequence[str]) -> Mapping[str, str]:
        return {each: f"{each.split('/')[1]}: boom" for each in containers}

    def image_digests(self, images: Sequence[str]) -> Result[Mapping[str, tuple[str, ...]], str]:
        self.images_looked += 1
        return Success({each: self.digests for each in images})

    def running_images(self, projects: Sequence[str]) -> Result[RunningImages, str]:
        self.images_looked += 1
        return Success(
            {
                project: {
                    each.service: RunningImage(self.images.get(project, ""), self.digests)
                    for each in self.running[project]
                }
                for project in projects
                if project in self.running
            }
        )

    def resources(self) -> Result[frozenset[Resource], str]:
        from gitops_compose.core.compose.resource import ResourceKind  # noqa: PLC0415

        return Success(frozenset(Resource(ResourceKind.NETWORK, each) for each in self.networks))

    def carry_out(self, action: StackAction) -> Outcome:
        self.done.append((action.verb.value, action.stack))
        if action.stack in self.failing:
            return Outcome(action, error=INJECTED)
        if action.verb is Verb.STOP:
            self.running.pop(action.project, None)
            return Outcome(action)
        stack = self.repository.stack(action.commit, action.stack)
        # Compose stamps each container with its service's configuration hash.
        hashes = self.configs.get(action.stack, {})
        fresh = tuple(
            replace(each, config_hash=hashes.get(each.service)) for each in containers_for(stack)
        )
        self.images[action.project] = f"sha256:{action.fingerprint}"
        self.made[action.project] = self.time
        if action.stack in self.failing_half_way:
            self.running[action.project] = tuple(
                Container(each.service, "exited", 1) for each in fresh
            )
            return Outcome(action, error="exit 1: dependency failed to start")
        if action.stack in self.crashing or action.commit in self.crashing_commits:
            fresh = tuple(Container(each.service, "exited", 1) for each in fresh)
        if fresh:
            self.running[action.project] = fresh
        else:
            self.running.pop(action.project, None)
        self.networks |= {each.name for each in stack.creates}
        return Outcome(action)


def containers_for(stack: Stack) -> tuple[Container, ...]:
    return tuple(
        Container(each.name, "exited", 0) if each.one_shot else Container(each.name, "running")
        for each in stack.services
        if each.expected
    )
