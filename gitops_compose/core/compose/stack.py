"""Stacks: which directories of a commit are Compose stacks, what they own, and their names.

A stack is a directory holding a Compose file, at any depth. It owns every file below it
except those of stacks nested deeper, so an edit of ``my_app/production/.env`` changes
``my_app/production`` and nothing else. It also depends on the files elsewhere in the
repository that its Compose file names (``env_file: ../shared/common.env``, a bind mount
of ``../certs``): Compose reads them when it starts the stack, so an edit of one changes
every stack that names it. Its fingerprint is a hash of all these files, and those of
them that are symbolic links out of the repository are named (see link).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_file import (
    ComposeModel,
    Declared,
    Role,
    Service,
    compose_model,
)
from gitops_compose.core.compose.compose_sources import (
    Sources,
    compose_files_by_directory,
    sources_of,
)
from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.compose.link import OutsideLink, link_on_the_way, outside_link
from gitops_compose.core.compose.parse_cache import ModelSources, ParseCache
from gitops_compose.core.compose.resource import Resource, ResourceKind
from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.compose.snapshot import (
    ROOT,
    Snapshot,
    directory_of,
    parent_directories,
    repository_path,
)


@final
@dataclass(frozen=True, slots=True)
class Stack:
    path: str
    project: str
    compose_files: tuple[str, ...]
    # Repository path -> blob id of every file the stack owns or its Compose file names.
    files: Mapping[str, str]
    fingerprint: str
    role: Role
    services: tuple[Service, ...]
    # Services of included Compose files are not in ``services``; see runtime.
    includes: bool = False
    # Whether Compose must build an image of it (a service with build: and no image).
    builds: bool = False
    # Its top-level networks and volumes, and whether a service is on the default network:
    # what it creates (see creates) and what it needs made by others (external: true).
    declared: tuple[Declared, ...] = ()
    default_network: bool = False
    uses: frozenset[Resource] = frozenset()
    # Stacks it starts after, as its Compose file says (x-gitops: depends_on).
    depends_on: tuple[str, ...] = ()
    # Its own health gate times (x-gitops), None where the command line's hold.
    health_timeout: float | None = None
    settle: float | None = None
    rollback: bool | None = None
    # Paths its x-gitops.watch names, relative to its directory (see mounting).
    watched: tuple[str, ...] = ()
    # x-gitops.image_updates: None where --image-updates holds (see image_update).
    image_updates: bool | None = None
    # What it runs once deployed (see expectation): worked out once, as every check that
    # looks at the host asks it of every stack.
    _expectation: Expectation | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        expectation = Expectation(
            services=tuple(each.name for each in self.services if each.expected),
            one_shot=frozenset(each.name for each in self.services if each.one_shot),
            includes=self.includes,
        )
        object.__setattr__(self, "_expectation", expectation)

    def mounting(self, path: str) -> tuple[str, ...]:
        """The services a repository file is mounted into (itself, or a directory of it);
        every service for a file it watches (x-gitops.watch), as the original restarts."""
        directory = self.path
        for watched in self.watched:
            source = repository_path(directory, watched)
            if source is not None and (path == source or path.startswith(f"{source}/")):
                return tuple(service.name for service in self.services)
        found = []
        for service in self.services:
            for mount in service.mounts:
                source = repository_path(directory, mount)
                if source is not None and (path == source or path.startswith(f"{source}/")):
                    found.append(service.name)
                    break
        return tuple(found)

    @property
    def expectation(self) -> Expectation:
        """What it runs once deployed, as the not-running check and the state know it."""
        assert self._expectation is not None
        return self._expectation

    @property
    def creates(self) -> frozenset[Resource]:
        """The networks and volumes Compose makes for it, by the names Docker gives them;
        worked out when asked (order_of asks only when some stack uses one)."""
        created = {each.resource(self.project) for each in self.declared if not each.external}
        declares_default = any(
            each.kind is ResourceKind.NETWORK and each.key == "default" for each in self.declared
        )
        if self.default_network and not declares_default:
            created.add(Resource(ResourceKind.NETWORK, f"{self.project}_default"))
        return frozenset(created)


@final
@dataclass(frozen=True, slots=True)
class StackError:
    """A stack the core cannot deploy; ``project`` is what it would be called, when known."""

    path: str
    project: str | None
    reason: str
    files: Mapping[str, str]
    fingerprint: str


@final
@dataclass(frozen=True, slots=True)
class Stacks:
    """Every stack of one commit, by path; a broken stack is an error for itself alone."""

    commit: str
    valid: Mapping[str, Stack]
    broken: Mapping[str, StackError]
    # The symbolic links out of the repository that each valid stack uses, by its path;
    # empty for a commit without such links.
    outside_links: Mapping[str, tuple[OutsideLink, ...]] = field(default_factory=dict)
    # The subtrees of the scope the commit has no directory for (see scope.missing).
    missing: tuple[str, ...] = ()


def stacks_of(
    snapshot: Snapshot, root_name: str, parsing: ParseCache, scope: Scope = EVERYWHERE
) -> Stacks:
    """The stacks of a commit in ``scope`` (all of them by default). ``root_name`` names a
    stack at the repository root; the files are parsed with ``parsing``, and what is parsed
    is kept there. A stack out of scope is not read at all, and two stacks of different
    hosts may share a project name; a stack in scope still owns and names files anywhere."""
    compose_files = compose_files_by_directory(snapshot.blobs)
    owned = _files_by_stack(snapshot.blobs, compose_files.keys())
    outside = _Outside(snapshot.blobs, snapshot.dead_links)
    leaving = _Leaving(snapshot.dead_links)
    valid: dict[str, Stack] = {}
    broken: dict[str, StackError] = {}
    linked: dict[str, tuple[OutsideLink, ...]] = {}
    for path, files in sorted(compose_files.items()):
        if not scope.holds(path):
            continue
        stack_files = owned[path]
        dead = [each for each in files if each in snapshot.dead_links]
        if dead:
            model: Result[ComposeModel, str] = Failure(
                f"{dead[0]} is a symbolic link to {snapshot.dead_links[dead[0]]}, which is "
                "not a file of the repository"
            )
        else:
            documents = tuple(_contents(snapshot, each) for each in files)
            model = _model(documents, _sources(snapshot, path, files, parsing), parsing)
        references = model.map(lambda found: found.references).value_or(())
        if references:
            stack_files = {**stack_files, **outside.named_by(path, references)}
        found = _stack_or_error(path, files, stack_files, model, root_name)
        if isinstance(found, Stack):
            valid[path] = found
            if snapshot.dead_links and (used := leaving.used_by(stack_files)):
                linked[path] = used
        else:
            broken[path] = found
    missing = scope.missing(snapshot.blobs)
    return _without_name_clashes(Stacks(snapshot.commit, valid, broken, linked, missing))


def fingerprint_of(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return digest.hexdigest()[:16]


def project_name(path: str, declared: str | None, root_name: str) -> Result[str, str]:
    """The Compose project name of a stack: a declared ``name:`` wins; else the path.

    The path's segments are joined with ``-`` (``my_app/production`` -> ``my_app-production``),
    so stacks named alike in different folders stay apart; the root stack takes the name of
    the repository's directory, as Compose itself would. Both follow Compose's normalisation.
    """
    if declared is not None:  # Compose normalises a declared name as it does a directory's
        normalised = _NOT_ALLOWED.sub("", declared.lower()).lstrip("-_")
        if not normalised:
            return Failure(f"invalid project name {declared!r}: nothing is left of it")
        return Success(normalised)
    raw = root_name if path == ROOT else path.replace("/", "-")
    normalised = _NOT_ALLOWED.sub("", raw.lower()).lstrip("-_")
    if not normalised:
        return Failure(f"no project name can be made from {raw!r}; set name: in the compose file")
    return Success(normalised)


_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]")


def _files_by_stack(
    blobs: Mapping[str, str], stack_paths: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Each file goes to the nearest stack directory above it: linear in files x depth."""
    owned: dict[str, dict[str, str]] = {path: {} for path in stack_paths}
    for path, blob in blobs.items():
        for directory in parent_directories(directory_of(path)):
            if directory in owned:
                owned[directory][path] = blob
                break
    return owned


class _Outside:
    """Files of a commit that a stack names outside its own directory."""

    def __init__(self, blobs: Mapping[str, str], dead_links: Mapping[str, str]) -> None:
        self._blobs = blobs
        self._dead_links = dead_links
        self._sorted: list[str] | None = None  # only sorted when some stack needs it

    def named_by(self, stack: str, references: Iterable[str]) -> dict[str, str]:
        """Path -> blob id of each file, or file below each directory, that is referenced.

        A path outside the repository is the host's business, invisible to git.
        """
        found: dict[str, str] = {}
        for reference in references:
            target = repository_path(stack, reference)
            if target is None:
                continue
            if target in self._blobs:
                found[target] = self._blobs[target]
                continue
            if self._sorted is None:
                self._sorted = sorted(self._blobs)
            prefix = "" if target == ROOT else f"{target}/"
            start = bisect_left(self._sorted, prefix)
            for index in range(start, len(self._sorted)):
                path = self._sorted[index]
                if not path.startswith(prefix):
                    break
                found[path] = self._blobs[path]
            below = start < len(self._sorted) and self._sorted[start].startswith(prefix)
            if not below and self._dead_links:
                # A path through a linked directory that leads nowhere in the repository
                # (``../shared/conf/app.env``, ``shared/conf -> /etc/app``): the link.
                on_the_way = link_on_the_way(target, self._dead_links)
                if on_the_way is not None and on_the_way[0] in self._blobs:
                    found[on_the_way[0]] = self._blobs[on_the_way[0]]
        return found


class _Leaving:
    """Which dead links of a commit leave the repository, each worked out once."""

    def __init__(self, dead_links: Mapping[str, str]) -> None:
        self._dead_links = dead_links
        self._known: dict[str, OutsideLink | None] = {}

    def used_by(self, files: Mapping[str, str]) -> tuple[OutsideLink, ...]:
        found = []
        for path in sorted(self._dead_links.keys() & files.keys()):
            if path not in self._known:
                self._known[path] = outside_link(path, self._dead_links)
            link = self._known[path]
            if link is not None:
                found.append(link)
        return tuple(found)


def _contents(snapshot: Snapshot, path: str) -> bytes:
    found = snapshot.contents.get(snapshot.blobs[path])
    if found is None:
        # The shell reads all that contents_needed() names; a gap is a bug, not user input.
        raise ValueError(f"contents of {path} missing from snapshot {snapshot.commit}")
    return found


def _sources(
    snapshot: Snapshot, stack: str, compose_files: tuple[str, ...], parsing: ParseCache
) -> Sources:
    found = sources_of(snapshot, stack, compose_files, parsing)
    if found.missing:
        # The shell reads all that contents_needed() names; a gap is a bug, not user input.
        raise ValueError(f"contents of {min(found.missing)} missing from {snapshot.commit}")
    return found


def _model(
    documents: tuple[bytes, ...], sources: Sources, parsing: ParseCache
) -> Result[ComposeModel, str]:
    if sources.problem is not None:
        return Failure(f"invalid compose file: {sources.problem}")
    key = (documents, sources.included, sources.extended, sources.variables)
    return parsing.models.get(key, lambda found: _new_model(found, parsing))


def _new_model(sources: ModelSources, parsing: ParseCache) -> Result[ComposeModel, str]:
    documents, included, extended, variables = sources
    return compose_model(documents, included, extended, variables, parsing=parsing)


def _stack_or_error(
    path: str,
    compose_files: tuple[str, ...],
    files: Mapping[str, str],
    model: Result[ComposeModel, str],
    root_name: str,
) -> Stack | StackError:
    fingerprint = fingerprint_of(files)
    declared = model.map(lambda found: found.name).value_or(None)
    project = project_name(path, declared, root_name)
    match model, project:
        case Success(found), Success(name):
            return Stack(
                path=path,
                project=name,
                compose_files=compose_files,
                files=files,
                fingerprint=fingerprint,
                role=found.role,
                services=found.services,
                includes=found.includes,
                builds=found.builds,
                declared=found.declared,
                default_network=found.default_network,
                uses=_uses(found, name),
                depends_on=found.depends_on,
                health_timeout=found.health_timeout,
                settle=found.settle,
                rollback=found.rollback,
                watched=found.watched,
                image_updates=found.image_updates,
            )
        case Failure(reason), _:
            return StackError(path, project.value_or(None), reason, files, fingerprint)
        case _:
            return StackError(path, None, project.failure(), files, fingerprint)


_NOTHING: frozenset[Resource] = frozenset()


def _uses(model: ComposeModel, project: str) -> frozenset[Resource]:
    if not model.declared:
        return _NOTHING  # most stacks: no top-level networks or volumes
    return frozenset(each.resource(project) for each in model.declared if each.external)


def _without_name_clashes(stacks: Stacks) -> Stacks:
    """Two stacks that would share a Compose project are an error for both, naming both."""
    by_project: dict[str, list[str]] = defaultdict(list)
    for path, stack in stacks.valid.items():
        by_project[stack.project].append(path)
    for path, error in stacks.broken.items():
        if error.project is not None:
            by_project[error.project].append(path)
    clashing = {
        path: (project, sorted(paths))
        for project, paths in by_project.items()
        if len(paths) > 1
        for path in paths
    }
    if not clashing:
        return stacks
    valid = {path: stack for path, stack in stacks.valid.items() if path not in clashing}
    linked = {path: links for path, links in stacks.outside_links.items() if path in valid}
    broken = dict(stacks.broken)
    for path, (project, paths) in clashing.items():
        files, fingerprint = _owned(stacks, path)
        broken[path] = StackError(
            path=path,
            project=None,
            reason=f"project name {project!r} is shared by {' and '.join(paths)}",
            files=files,
            fingerprint=fingerprint,
        )
    return Stacks(stacks.commit, valid, broken, linked, stacks.missing)


def _owned(stacks: Stacks, path: str) -> tuple[Mapping[str, str], str]:
    if path in stacks.valid:
        return stacks.valid[path].files, stacks.valid[path].fingerprint
    return stacks.broken[path].files, stacks.broken[path].fingerprint
