"""One commit of the repository as plain values: what the shell reads, what the core decides on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from posixpath import basename, normpath
from typing import final

from gitops_compose.core.compose_file import (
    COMPOSE_FILE_NAMES,
    OVERRIDE_FILE_NAMES,
    include_entries,
)

ROOT = "."


@final
@dataclass(frozen=True, slots=True)
class Snapshot:
    """The files of one commit: repository-relative POSIX path -> blob id.

    ``contents`` holds, by blob id, the bytes of the files the core reads (the Compose
    files, as named by :func:`files_to_read`); every other file counts only by its blob id.
    """

    commit: str
    blobs: Mapping[str, str]
    contents: Mapping[str, bytes] = field(default_factory=dict)
    # Symbolic links that leave the repository, point nowhere or loop: path -> target.
    # Git holds only the target's name, so what Compose would read there is unknown.
    dead_links: Mapping[str, str] = field(default_factory=dict)


def files_to_read(paths: Iterable[str]) -> frozenset[str]:
    """The Compose and override files: the first contents the core needs."""
    wanted = set(COMPOSE_FILE_NAMES) | set(OVERRIDE_FILE_NAMES)
    return frozenset(path for path in paths if basename(path) in wanted)


def contents_needed(snapshot: Snapshot) -> frozenset[str]:
    """Paths whose contents the core needs and ``snapshot`` does not hold yet.

    First the Compose files, then the files that the files already read include. The shell
    reads what this names and asks again until it names nothing: every round adds contents,
    so it ends.
    """
    blobs, contents = snapshot.blobs, snapshot.contents
    needed = {path for path in files_to_read(blobs) if blobs[path] not in contents}
    for path, blob in blobs.items():
        raw = contents.get(blob)
        if raw is None:
            continue
        for entry in include_entries(raw):
            target = repository_path(directory_of(path), entry)
            if target is not None and target in blobs and blobs[target] not in contents:
                needed.add(target)
    return frozenset(needed)


def repository_path(directory: str, relative: str) -> str | None:
    """``relative``, written in a file of ``directory``, as a repository path.

    None for a path outside the repository: absolute, from a home directory, or leaving it
    with ``..``. Such files are the host's, invisible to git. Variables are not expanded.
    """
    if not relative or relative.startswith(("/", "~")) or "$" in relative:
        return None
    joined = normpath(relative if directory == ROOT else f"{directory}/{relative}")
    return None if joined == ".." or joined.startswith("../") else joined


def directory_of(path: str) -> str:
    head, _, _ = path.rpartition("/")
    return head or ROOT


def parent_directories(directory: str) -> Iterable[str]:
    """``a/b/c`` -> ``a/b/c``, ``a/b``, ``a``, ``.``: nearest first."""
    while directory != ROOT:
        yield directory
        directory = directory_of(directory)
    yield ROOT
