"""Which stacks of the repository are this host's: those under its subtrees (``--path``).

One repository can serve many hosts, each managing the stacks below its own directories
(``hosts/web-1``). A stack is this host's when its directory is one of the subtrees or lies
below one; a stack above them (the repository root's, say) is not. The files a stack names
elsewhere (``../../shared/common.env``) still count for it wherever they are: the scope
says which stacks, never which files (see stack). Project names stay relative to the
repository root, so a host's projects keep their names when it is given a scope.

A scope with no subtree is the whole repository, as without ``--path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from posixpath import normpath
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.value import Value

# The repository root, as snapshot.ROOT writes it (not imported: an idle check, which
# carries a scope in its settings, loads nothing of Compose's files).
ROOT = "."


@final
class Scope(Value):
    """The subtrees a host manages, as normalised repository paths; () is everywhere."""

    subtrees: tuple[str, ...] = ()

    @property
    def everywhere(self) -> bool:
        return not self.subtrees or ROOT in self.subtrees

    def holds(self, stack: str) -> bool:
        """Whether the stack at this repository path is this host's."""
        if self.everywhere:
            return True
        return any(stack == each or stack.startswith(f"{each}/") for each in self.subtrees)

    def missing(self, blobs: Mapping[str, str]) -> tuple[str, ...]:
        """The subtrees that are no directory of a commit (git keeps no empty one)."""
        if self.everywhere:
            return ()
        left = set(self.subtrees)
        for path in blobs:
            for each in tuple(left):
                if path.startswith(f"{each}/"):
                    left.discard(each)
            if not left:
                break
        return tuple(each for each in self.subtrees if each in left)

    def __str__(self) -> str:
        return " ".join(self.subtrees) if self.subtrees else ROOT


EVERYWHERE = Scope()

# What the state's record of a stack outside the subtrees comes to.
LEFT_SCOPE_REASON = (
    "outside --path: no longer managed by this host, forgotten from its state, left running"
)
# What a subtree the remote head lacks means, as the log and plan say it.
MISSING_REASON = "no such directory at the remote head: this host manages no stack there"


def scope_of(given: Iterable[str]) -> Result[Scope, str]:
    """The scope of ``--path`` values, or why one is not a path inside the repository.

    Each is relative to the repository root, with ``/`` between its parts; ``hosts/a/``
    and ``./hosts/a`` are ``hosts/a``; ``.`` is the whole repository. Absolute paths and
    paths that leave the repository with ``..`` are refused. Repeated and nested subtrees
    are kept once, the outer one.
    """
    found: list[str] = []
    for raw in given:
        text = raw.strip()
        if not text:
            return Failure("--path must not be empty")
        if text.startswith(("/", "~")):
            return Failure(f"--path {text!r} must be relative to the repository root")
        if "\\" in text:
            return Failure(f"--path {text!r}: separate directories with /, not \\")
        path = normpath(text)
        if path == ".." or path.startswith("../"):
            return Failure(f"--path {text!r} leaves the repository")
        found.append(path)
    if ROOT in found:
        return Success(EVERYWHERE)
    kept = [
        path
        for path in sorted(set(found))
        if not any(path.startswith(f"{other}/") for other in found if other != path)
    ]
    return Success(Scope(tuple(kept)))
