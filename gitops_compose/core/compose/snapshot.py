"""One commit of the repository as plain values: what the shell reads, what the core decides on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from posixpath import basename, normpath
from typing import final

from gitops_compose.core.value import Value, field

ROOT = "."
# The files that make a directory a stack, in Compose's own precedence (compose-go
# DefaultFileNames / DefaultOverrideFileNames): the first present file wins, and the first
# present override file is loaded on top of it.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
# A Compose file that SOPS encrypted may say so in its name (see secret_file); Compose
# itself does not look for these, so they count only where none of its own names is.
SOPS_COMPOSE_FILE_NAMES = ("compose.sops.yaml", "compose.sops.yml")
OVERRIDE_FILE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
# Compose's variables file of a project, in its directory.
ENV_FILE = ".env"


@final
class Snapshot(Value):
    """The files of one commit: repository-relative POSIX path -> blob id.

    ``contents`` holds, by blob id, the bytes of the files the core reads (the Compose
    files and the ``.env`` files that interpolate them, as
    ``compose_sources.contents_needed`` names them); every other file counts only by its blob id.
    """

    commit: str
    blobs: Mapping[str, str]
    contents: Mapping[str, bytes] = field(default_factory=dict)
    # Symbolic links that leave the repository, point nowhere or loop: path -> target.
    # Git holds only the target's name, so what Compose would read there is unknown.
    dead_links: Mapping[str, str] = field(default_factory=dict)


def files_to_read(paths: Iterable[str]) -> frozenset[str]:
    """The first contents the core needs: the Compose and override files, and the ``.env``
    beside them (Compose interpolates a stack's files with it)."""
    wanted = {*COMPOSE_FILE_NAMES, *OVERRIDE_FILE_NAMES, *SOPS_COMPOSE_FILE_NAMES}
    listed = set(paths)
    compose_files = {path for path in listed if basename(path) in wanted}
    env_files = {_beside(path, ENV_FILE) for path in compose_files} & listed
    return frozenset(compose_files | env_files)


def _beside(path: str, name: str) -> str:
    directory = directory_of(path)
    return name if directory == ROOT else f"{directory}/{name}"


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
