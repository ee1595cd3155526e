"""What Compose loads for one stack, found in a commit: its Compose files, the files they
include (with the ``.env`` files that interpolate them) and extend, and the stack's ``.env``.

The core reads these itself, from the commit, to know the stack's services and the files
it depends on; every other file counts by its blob id alone. Paths resolve as Compose
resolves them: an included file's relative paths from its ``project_directory:`` (by
default its own directory), an extended file's from its own directory. A file that is not
in the commit (a host path, an unknown variable, a link out of the repository) is left to
Compose, which reads it from the host or fails on its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from posixpath import basename
from typing import final

from gitops_compose.core.compose.compose_file import Extended, Included
from gitops_compose.core.compose.dotenv import variables
from gitops_compose.core.compose.file_links import extends_reference, links_of
from gitops_compose.core.compose.interpolation import interpolated
from gitops_compose.core.compose.parse_cache import ParseCache
from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.compose.snapshot import (
    COMPOSE_FILE_NAMES,
    ENV_FILE,
    OVERRIDE_FILE_NAMES,
    ROOT,
    SOPS_COMPOSE_FILE_NAMES,
    Snapshot,
    directory_of,
    files_to_read,
    repository_path,
)

Variables = tuple[tuple[str, str], ...]


@final
@dataclass(frozen=True, slots=True)
class Sources:
    """What the model of one stack is made from, besides its own Compose files."""

    included: tuple[Included, ...] = ()
    extended: tuple[Extended, ...] = ()
    # The stack's .env: what Compose interpolates its files with.
    variables: Variables = ()
    # Repository paths whose contents the core needs and the snapshot lacks.
    missing: frozenset[str] = frozenset()
    # An include cycle, which Compose rejects: the stack's error.
    problem: str | None = None


_SOPS_NAMES = frozenset(SOPS_COMPOSE_FILE_NAMES)
_MAIN_NAMES = (*COMPOSE_FILE_NAMES, *SOPS_COMPOSE_FILE_NAMES)


def compose_files_by_directory(blobs: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The stacks of a commit: directory -> its Compose file and override file, if any."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for path in blobs:
        name = basename(path)
        if name in COMPOSE_FILE_NAMES or name in OVERRIDE_FILE_NAMES or name in _SOPS_NAMES:
            found[directory_of(path)][name] = path
    stacks: dict[str, tuple[str, ...]] = {}
    for directory, names in found.items():
        main = next((names[n] for n in _MAIN_NAMES if n in names), None)
        if main is None:
            continue  # an override file alone is not a stack, as for Compose
        override = next((names[n] for n in OVERRIDE_FILE_NAMES if n in names), None)
        stacks[directory] = (main,) if override is None else (main, override)
    return stacks


def contents_needed(
    snapshot: Snapshot, parsing: ParseCache, scope: Scope = EVERYWHERE
) -> frozenset[str]:
    """Paths whose contents the core needs and ``snapshot`` does not hold yet, for the
    stacks of ``scope`` (other hosts' stacks are not read).

    First the Compose files and ``.env`` files of stacks, then the files that the files
    already read include or extend, with their ``.env`` files. The shell reads what this
    names and asks again until it names nothing: every round adds contents, so it ends.
    """
    blobs, contents = snapshot.blobs, snapshot.contents
    wanted = files_to_read(blobs)
    if not scope.everywhere:
        wanted = frozenset(path for path in wanted if scope.holds(directory_of(path)))
    missing = {path for path in wanted if blobs[path] not in contents}
    for stack, files in compose_files_by_directory(blobs).items():
        if scope.holds(stack):
            missing.update(sources_of(snapshot, stack, files, parsing).missing)
    return frozenset(missing)


def sources_of(
    snapshot: Snapshot, stack: str, compose_files: tuple[str, ...], parsing: ParseCache
) -> Sources:
    """The files Compose loads for the stack at ``stack`` besides ``compose_files``."""
    walk = _Walk(snapshot, stack, parsing)
    stack_variables = walk.variables_of(walk.located(stack, ENV_FILE, {}), {})
    for path in compose_files:
        walk.file(path, stack, (path,), dict(stack_variables))
    return Sources(
        included=tuple(walk.included),
        extended=tuple(walk.extended.values()),
        variables=stack_variables,
        missing=frozenset(walk.missing),
        problem=walk.problem,
    )


class _Walk:
    def __init__(self, snapshot: Snapshot, stack: str, parsing: ParseCache) -> None:
        self._snapshot = snapshot
        self._stack = stack
        self._parsing = parsing
        self.included: list[Included] = []
        self.extended: dict[tuple[str, str], Extended] = {}
        self.missing: set[str] = set()
        self.problem: str | None = None
        self._seen: set[str] = set()

    def file(self, path: str, base: str, chain: tuple[str, ...], known: Mapping[str, str]) -> None:
        """Read one Compose file whose relative paths start at ``base``, and what it
        includes and extends; ``chain`` is the includes that led to it."""
        raw = self._contents(path)
        if raw is None:
            return
        links = links_of(raw, self._parsing)
        self._extends(links.extends, base, known, set())
        for entry in links.includes:
            directory = entry.directory
            written = interpolated(directory, known) if directory is not None else None
            project = repository_path(base, written) if written is not None else None
            if project is None:
                continue  # its paths start outside the repository: the host's business
            own = dict(known)
            for env_file in entry.env_file_paths:
                for key, value in self.variables_of(self.located(base, env_file, known), known):
                    own.setdefault(key, value)  # Compose: the including file's win
            for each in entry.paths:
                target = self.located(base, each, known)
                if target is None or self.problem is not None:
                    continue
                if target in chain:
                    self.problem = f"include cycle: {' includes '.join((*chain, target))}"
                    return
                if target in self._seen:
                    continue  # reached twice without a cycle: Compose loads it once
                self._seen.add(target)
                contents = self._contents(target)
                if contents is None:
                    continue
                self.included.append(
                    Included(target, self._base(project), contents, tuple(own.items()))
                )
                self.file(target, project, (*chain, target), own)

    def _extends(
        self, files: tuple[str, ...], base: str, known: Mapping[str, str], visited: set[str]
    ) -> None:
        for written in files:
            named_from = extends_reference(self._base(base), written, known)
            target = self.located(base, written, known)
            if named_from is None or target is None or target in visited:
                continue
            contents = self._contents(target)
            if contents is None:
                continue
            directory = directory_of(target)
            self.extended[named_from] = Extended(
                named_from, target, self._base(directory), contents
            )
            extends = links_of(contents, self._parsing).extends
            self._extends(extends, directory, known, visited | {target})

    def variables_of(self, path: str | None, known: Mapping[str, str]) -> Variables:
        if path is None:
            return ()
        raw = self._contents(path)
        if raw is None:
            return ()
        return self._parsing.variables.get((raw, tuple(known.items())), _variables)

    def located(self, base: str, written: str, known: Mapping[str, str]) -> str | None:
        """The file of the commit that ``written``, from ``base``, names; None for one the
        commit does not hold (outside it, through a variable not known, a dead link)."""
        path = interpolated(written, known)
        target = repository_path(base, path) if path is not None else None
        if target is None or target not in self._snapshot.blobs:
            return None
        return None if target in self._snapshot.dead_links else target

    def _contents(self, path: str) -> bytes | None:
        found = self._snapshot.contents.get(self._snapshot.blobs[path])
        if found is None:
            self.missing.add(path)
        return found

    def _base(self, directory: str) -> str:
        """``directory`` relative to the stack's: how the model names where paths start."""
        return relative_to(self._stack, directory)


def relative_to(start: str, directory: str) -> str:
    """The relative path from one repository directory to another, without ``a/..``."""
    here = [] if start == ROOT else start.split("/")
    there = [] if directory == ROOT else directory.split("/")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    return "/".join([".."] * (len(here) - common) + there[common:]) or ROOT


def _variables(file: tuple[bytes, Variables]) -> Variables:
    """A .env file's variables; ``known`` ones (those of an including file) expand in it."""
    raw, known = file
    found = variables(raw, dict(known)) if known else variables(raw)
    return tuple(found.items())
