"""One commit of the repository as plain values: what the shell reads, what the core decides on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from posixpath import basename
from typing import final

from gitops_compose.core.compose_file import COMPOSE_FILE_NAMES, OVERRIDE_FILE_NAMES

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


def files_to_read(paths: Iterable[str]) -> frozenset[str]:
    """The paths whose contents the core needs: every Compose and override file."""
    wanted = set(COMPOSE_FILE_NAMES) | set(OVERRIDE_FILE_NAMES)
    return frozenset(path for path in paths if basename(path) in wanted)


def directory_of(path: str) -> str:
    head, _, _ = path.rpartition("/")
    return head or ROOT


def parent_directories(directory: str) -> Iterable[str]:
    """``a/b/c`` -> ``a/b/c``, ``a/b``, ``a``, ``.``: nearest first."""
    while directory != ROOT:
        yield directory
        directory = directory_of(directory)
    yield ROOT
