"""How one Compose file leads Compose to others: its ``include:`` items and the files its
services extend (``extends: {file: ...}``).

The one reading of both. The walk of a stack's sources (compose_sources) follows them to
the files it reads from the commit; the model (compose_file) lists the included files among
those the stack depends on, and finds each extended file among those the walk read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, final

from returns.result import Failure

from gitops_compose.core.compose.compose_merge import merged
from gitops_compose.core.compose.interpolation import interpolated
from gitops_compose.core.compose.parse_cache import ParseCache


@final
@dataclass(frozen=True, slots=True)
class IncludeEntry:
    """One item of ``include:``, as written: relative to the including file's base."""

    paths: tuple[str, ...]
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()

    @property
    def directory(self) -> str | None:
        """Where the included file's relative paths start, relative to the including
        file's base: ``project_directory:``, else the directory of its first file."""
        if self.project_directory is not None:
            return self.project_directory
        if not self.paths:
            return None
        head, _, _ = self.paths[0].rpartition("/")
        return head or "."

    @property
    def env_file_paths(self) -> tuple[str, ...]:
        """The env files its variables come from: as written, else ``.env`` there."""
        if self.env_files:
            return tuple(each for each in self.env_files if each != "/dev/null")
        directory = self.directory
        return () if directory is None else (joined(directory, ".env"),)


@final
@dataclass(frozen=True, slots=True)
class FileLinks:
    """What one Compose file names of other Compose files, as written."""

    includes: tuple[IncludeEntry, ...] = ()
    # The files its services extend, each once, in the order of the file.
    extends: tuple[str, ...] = ()


_NONE = FileLinks()


def links_of(raw: bytes, parsing: ParseCache) -> FileLinks:
    """The includes and extends of one Compose file; none for one that does not parse (its
    model says why)."""
    if b"include" not in raw and b"extends" not in raw:
        return _NONE  # most files: no parse
    return parsing.links.get(raw, lambda key: _links(key, parsing))


def _links(raw: bytes, parsing: ParseCache) -> FileLinks:
    parsed = merged([raw], parsing.parse)
    if isinstance(parsed, Failure):
        return _NONE
    document = parsed.unwrap()
    return FileLinks(includes_in(document), _extended_in(document))


def include_entries(raw: bytes, parsing: ParseCache) -> tuple[str, ...]:
    """The relative paths of the Compose files one Compose file includes, as written."""
    return tuple(path for entry in links_of(raw, parsing).includes for path in entry.paths)


def includes_in(document: Mapping[str, Any]) -> tuple[IncludeEntry, ...]:
    """The items of a Compose document's ``include:``, as written."""
    return tuple(_include_entry(entry) for entry in listed(document.get("include")))


def _include_entry(entry: object) -> IncludeEntry:
    if not isinstance(entry, dict):
        return IncludeEntry(tuple(written([entry])))
    directory = entry.get("project_directory")
    return IncludeEntry(
        paths=tuple(written(listed(entry.get("path")))),
        project_directory=directory if isinstance(directory, str) and directory else None,
        env_files=tuple(written(listed(entry.get("env_file")))),
    )


def _extended_in(document: Mapping[str, Any]) -> tuple[str, ...]:
    services = document.get("services")
    if not isinstance(services, dict):
        return ()
    return tuple(
        dict.fromkeys(
            body["extends"]["file"]
            for body in services.values()
            if isinstance(body, dict)
            and isinstance(body.get("extends"), dict)
            and isinstance(body["extends"].get("file"), str)
        )
    )


def extends_reference(
    base: str, written: str, variables: Mapping[str, str]
) -> tuple[str, str] | None:
    """Where an ``extends: {file: ...}`` stands: the base of the file that has it (relative
    to the stack's directory) and the file as interpolated. The walk records the file it
    names under it (``Extended.named_from``), and the model finds it there; None when a
    variable it names is not known."""
    file = interpolated(written, variables)
    return None if file is None else (base, file)


def listed(value: object) -> list[object]:
    """Compose accepts one item or a list of them in many places."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def written(values: Iterable[object]) -> Iterator[str]:
    """The values that are paths as written: non-empty strings."""
    return (each for each in values if isinstance(each, str) and each)


def joined(base: str, path: str) -> str:
    """``path``, relative to ``base``, relative to where ``base`` is."""
    return path if base == "." else f"{base}/{path}"
