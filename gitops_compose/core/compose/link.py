"""Symbolic links of a commit, and those that lead out of the repository.

Git stores a link as a blob whose content is the target's path. The shell reads a link
that ends at a file or directory of the commit as that file (see Snapshot); one that does
not is kept as a dead link, path -> target. Of those, a link that leaves the repository
(an absolute target, ``..`` above the root, or a link to a link that does) names a file
of the host: Compose and Docker follow it when they start a stack; gitops-compose never
reads it. Such links are allowed, since hosts keep secrets and data outside git on
purpose, and a stack that uses one is warned about.
"""

from __future__ import annotations

from collections.abc import Mapping
from posixpath import join, normpath
from typing import final

from gitops_compose.core.compose.snapshot import ROOT, directory_of, parent_directories
from gitops_compose.core.value import Value

# A chain of links longer than this is taken for a loop.
MAX_HOPS = 8


def link_destination(directory: str, target: str) -> str | None:
    """Where a link in ``directory`` to ``target`` points, as a repository path; None when
    it leaves the repository. Nothing is expanded: the kernel reads ``~`` and ``$`` as
    they are."""
    if not target or target.startswith("/"):
        return None
    joined = normpath(target if directory == ROOT else f"{directory}/{target}")
    return None if joined == ".." or joined.startswith("../") else joined


@final
class OutsideLink(Value):
    """A link of the repository that leads out of it."""

    # The link, as a repository path.
    path: str
    # What it points at, as git holds it.
    target: str
    # What the last link on the way points at: the target itself, unless the link leads
    # through others of the repository (``via``), whose own directory this is relative to.
    outside: str
    via: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if not self.via:
            return f"{self.path} is a symbolic link to {self.target}, outside the repository"
        return (
            f"{self.path} is a symbolic link to {self.target}, which leads through "
            f"{', '.join(self.via)} to {self.outside}, outside the repository"
        )


def outside_link(path: str, dead_links: Mapping[str, str]) -> OutsideLink | None:
    """How the dead link at ``path`` leaves the repository; None when it does not (it
    points at nothing of the commit, or loops)."""
    current, text = path, dead_links[path]
    via: list[str] = []
    for _ in range(MAX_HOPS):
        destination = link_destination(directory_of(current), text)
        if destination is None:
            return OutsideLink(path, dead_links[path], text, tuple(via))
        found = link_on_the_way(destination, dead_links)
        if found is None:
            return None
        current, rest = found
        via.append(current)
        text = join(dead_links[current], rest) if rest else dead_links[current]
    return None


def link_on_the_way(path: str, dead_links: Mapping[str, str]) -> tuple[str, str] | None:
    """The dead link at ``path``, or at the nearest directory above it, and the rest of the
    path below that link; None when there is none."""
    if path in dead_links:
        return path, ""
    for directory in parent_directories(directory_of(path)):
        if directory in dead_links:
            return directory, path[len(directory) + 1 :]
    return None
