"""The parse cache: what the Compose files already read came to, kept by their contents, and
the YAML parser that reads them.

The core keeps nothing between calls. The shell makes one ``ParseCache`` per process, with
the YAML parser it chose (libyaml's in the venv, the pure one in gitops.pyz), and passes it
to every function that parses (``stacks_of``, ``contents_needed``). Keyed by contents: the
two commits of a check share most Compose files, and a daemon sees the same ones every
check, so each distinct file is parsed once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar, final

if TYPE_CHECKING:
    from returns.result import Result

    from gitops_compose.core.compose.compose_file import ComposeModel, Extended, Included
    from gitops_compose.core.compose.compose_merge import Document, Parse
    from gitops_compose.core.compose.file_links import FileLinks

Variables: TypeAlias = tuple[tuple[str, str], ...]
# What a stack's model is made from: its Compose files, what they include and extend, and
# its .env (see stack.stacks_of).
ModelSources: TypeAlias = tuple[
    tuple[bytes, ...], tuple["Included", ...], tuple["Extended", ...], Variables
]

# Room for both commits of a host with tens of thousands of stacks; a smaller cache misses
# on every file of a large repository, read in order, and parses each check anew.
SIZE = 65536

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@final
class Memo(Generic[K, V]):
    """Values by key, at most ``size`` of them: the oldest one leaves first."""

    __slots__ = ("_found", "_size")

    def __init__(self, size: int = SIZE) -> None:
        self._found: dict[K, V] = {}
        self._size = size

    def get(self, key: K, make: Callable[[K], V]) -> V:
        """The value of ``key``: the one kept, else ``make(key)``, kept from now on."""
        found = self._found
        try:
            return found[key]
        except KeyError:
            pass
        value = make(key)
        if len(found) >= self._size:
            del found[next(iter(found))]  # the oldest
        found[key] = value
        return value

    def clear(self) -> None:
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


@final
class ParseCache:
    """What one process has parsed so far, and the YAML parser it parses with.

    ``parser`` gives the parser when first needed (see compose_yaml.documents): a check with
    nothing new parses nothing, and need not load a YAML library at all.
    """

    __slots__ = ("_choose", "_parse", "links", "models", "variables")

    def __init__(self, parser: Callable[[], Parse], size: int = SIZE) -> None:
        self._choose = parser
        self._parse: Parse | None = None
        # A stack's model, by what it is made from (see ModelSources).
        self.models: Memo[ModelSources, Result[ComposeModel, str]] = Memo(size)
        # The includes and extends of one Compose file, by its contents (see file_links).
        self.links: Memo[bytes, FileLinks] = Memo(size)
        # A .env file's variables, by its contents and the variables known where it is read.
        self.variables: Memo[tuple[bytes, Variables], Variables] = Memo(size)

    def parse(self, raw: bytes) -> Result[tuple[Document, ...], str]:
        """The documents of one file, read by the YAML parser the shell chose."""
        if self._parse is None:
            self._parse = self._choose()
        return self._parse(raw)

    def clear(self) -> None:
        """Forget every parse (the parser stays): what a new process starts from."""
        self.models.clear()
        self.links.clear()
        self.variables.clear()
