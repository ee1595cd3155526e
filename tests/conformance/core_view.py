"""What the core says of one stack: ``stacks_of`` over a snapshot of a real git commit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import final

import pygit2

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.snapshot import directory_of, parent_directories
from gitops_compose.core.compose.stack import contents_needed, stacks_of
from gitops_compose.shell.check import read_commit
from gitops_compose.shell.git_repository import GitRepository
from gitops_compose.shell.yaml_parser import parse_cache

ROOT_NAME = "conformance"
# One parse cache for the run, as one process of the shell has.
PARSING = parse_cache()


@final
@dataclass(frozen=True, slots=True)
class CoreView:
    loads: bool
    error: str
    project: str | None
    compose_files: tuple[str, ...]
    services: frozenset[str]
    started: frozenset[str]  # Service.expected
    role: Role | None
    files: frozenset[str]  # Stack.files: owned and named
    owned: frozenset[str]  # the committed files below it, nested stacks' subtrees aside


def committed_repository(directory: Path, tree: Mapping[str, bytes]) -> str:
    """Write ``tree`` into a new git repository at ``directory`` and commit it all."""
    for path, contents in tree.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(contents)
    repository = pygit2.init_repository(str(directory), initial_head="main")
    repository.index.add_all()
    repository.index.write()
    who = pygit2.Signature("Conformance", "conformance@test.invalid", 0, 0)
    commit = repository.create_commit("HEAD", who, who, "corpus", repository.index.write_tree(), [])
    return str(commit)


def core_view(directory: Path, commit: str, stack: str) -> CoreView:
    repository = GitRepository(pygit2.Repository(str(directory)), "origin", "main", parsing=PARSING)
    snapshot = read_commit(repository, commit, lambda listed: contents_needed(listed, PARSING))
    stacks = stacks_of(snapshot, ROOT_NAME, PARSING)
    every_stack = stacks.valid.keys() | stacks.broken.keys()
    owned = frozenset(
        path
        for path in snapshot.blobs
        if next(
            (each for each in parent_directories(directory_of(path)) if each in every_stack), None
        )
        == stack
    )
    if stack in stacks.valid:
        found = stacks.valid[stack]
        return CoreView(
            loads=True,
            error="",
            project=found.project,
            compose_files=found.compose_files,
            services=frozenset(each.name for each in found.services),
            started=frozenset(each.name for each in found.services if each.expected),
            role=found.role,
            files=frozenset(found.files),
            owned=owned,
        )
    broken = stacks.broken[stack]
    return CoreView(
        loads=False,
        error=broken.reason,
        project=broken.project,
        compose_files=(),
        services=frozenset(),
        started=frozenset(),
        role=None,
        files=frozenset(broken.files),
        owned=owned,
    )
