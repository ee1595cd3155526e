"""Compose files merged as Compose merges them (compose-go's override.Merge): the documents
of a file in order, then its override files.

- Mappings merge key by key, sequences are appended, other values replaced, with Compose's
  exceptions (ports, volumes, ``depends_on``, ``build``, ``logging``, ...).
- ``!reset`` drops a value, ``!override`` replaces one instead of merging it.

The YAML itself is read by the parser the shell chose (see compose_yaml and ParseCache):
this module never imports one, so neither does anything that only merges or models files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import isinf, isnan
from typing import Any, TypeAlias, final

from returns.result import Failure, Result, Success

Path = tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a Compose file, and where it resets or overrides what it merges
    onto."""

    content: Mapping[str, Any]
    resets: tuple[Path, ...] = ()
    overrides: tuple[Path, ...] = ()


# One file's bytes -> its documents, or why it cannot be read (see compose_yaml.documents).
Parse: TypeAlias = Callable[[bytes], Result[tuple[Document, ...], str]]


class _Problem(Exception):
    """Documents that Compose refuses to merge."""


def merged(files: Sequence[bytes], parse: Parse) -> Result[dict[str, Any], str]:
    """Every document of every file, merged in order onto the first, as Compose merges a
    Compose file, its other documents and its override files."""
    result: dict[str, Any] = {}
    for raw in files:
        found = parse(raw)
        if isinstance(found, Failure):
            return found
        for document in found.unwrap():
            combined = merge(result, document)
            if isinstance(combined, Failure):
                return combined
            result = combined.unwrap()
    if not result:
        return Failure("empty compose file")
    return Success(result)


Merger = Callable[[Any, Any, Path], Any]


def merge(base: Mapping[str, Any], document: Document) -> Result[dict[str, Any], str]:
    """``document`` merged onto ``base``: mappings key by key, sequences appended, other
    values replaced, with Compose's exceptions; ``base`` is left as it was."""
    start: Mapping[str, Any] = base
    for path in (*document.resets, *document.overrides):
        start = _without(start, path)
    try:
        result = _merge_mappings(dict(start), document.content, ())
    except _Problem as problem:
        return Failure(str(problem))
    return Success(result)


def _without(tree: Mapping[str, Any], path: Path) -> Mapping[str, Any]:
    """``tree`` without the value at ``path``; what it shares with ``tree`` is not changed."""
    chain: list[tuple[Mapping[str, Any], str]] = []
    node: object = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return tree
        chain.append((node, key))
        node = node[key]
    replacement: object = _GONE
    for parent, key in reversed(chain):
        copy = dict(parent)
        if replacement is _GONE:
            del copy[key]
        else:
            copy[key] = replacement
        replacement = copy
    assert isinstance(replacement, dict)
    return replacement


_GONE = object()


def _merge_mappings(
    mapping: dict[str, Any], other: Mapping[str, Any], path: Path
) -> dict[str, Any]:
    for key, value in other.items():
        if key not in mapping or key.startswith("x-"):
            mapping[key] = value
            continue
        mapping[key] = _merge_values(mapping[key], value, (*path, key))
    return mapping


def _merge_values(existing: Any, value: Any, path: Path) -> Any:
    special = _special(path)
    if special is not None:
        return special(existing, value, path)
    if value is None:
        return existing
    if isinstance(existing, dict):
        if not isinstance(value, dict):
            raise _Problem(f"cannot override {'.'.join(path)}")
        return _merge_mappings(dict(existing), value, path)
    if isinstance(existing, list):
        if not isinstance(value, list):
            raise _Problem(f"cannot override {'.'.join(path)}")
        return [*existing, *value]
    return value


def _special(path: Path) -> Merger | None:
    if len(path) < 2:
        return None
    if path[0] == "services" and len(path) >= 3:
        rest = path[2:]
        if len(rest) == 1:
            return _SERVICE_RULES.get(rest[0])
        if rest in (("build", "args"), ("build", "additional_contexts"), ("build", "labels")):
            return _to_sequence
        if rest in (("build", "extra_hosts"), ("deploy", "labels")):
            return _to_sequence
        if rest == ("healthcheck", "test"):
            return _replaced
        if len(rest) == 2 and rest[0] == "ulimits":
            return _replaced
        return None
    if path[0] in ("networks", "volumes") and len(path) == 3 and path[2] == "labels":
        return _to_sequence
    return None


def _replaced(_existing: Any, value: Any, _path: Path) -> Any:
    return value


def _to_sequence(existing: Any, value: Any, _path: Path) -> list[Any]:
    return [*_as_sequence(existing), *_as_sequence(value)]


def _as_sequence(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return sorted(
            key if item is None else f"{key}={_go_text(item)}" for key, item in value.items()
        )
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    return []


def _go_text(value: object) -> str:
    """A value as Go's ``%v`` prints it, as compose-go writes ``key=value``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
    return str(value)


def _as_mapping(value: Any, default: Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return {str(each): None if default is None else dict(default) for each in value}
    return {}


def _build(existing: Any, value: Any, path: Path) -> dict[str, Any]:
    def as_build(found: Any) -> dict[str, Any]:
        if isinstance(found, str):
            return {"context": found}
        return dict(found) if isinstance(found, dict) else {}

    return _merge_mappings(as_build(existing), as_build(value), path)


_STARTED = {"condition": "service_started", "required": True}


def _depends_on(existing: Any, value: Any, path: Path) -> dict[str, Any]:
    return _merge_mappings(_as_mapping(existing, _STARTED), _as_mapping(value, _STARTED), path)


def _networks(existing: Any, value: Any, path: Path) -> dict[str, Any]:
    return _merge_mappings(_as_mapping(existing, None), _as_mapping(value, None), path)


def _logging(existing: Any, value: Any, path: Path) -> Any:
    if not isinstance(existing, dict) or not isinstance(value, dict):
        return value if value is not None else existing
    if "driver" not in value or "driver" not in existing or value["driver"] == existing["driver"]:
        return _merge_mappings(dict(existing), value, path)
    return value


_SERVICE_RULES: dict[str, Merger] = {
    "annotations": _to_sequence,
    "build": _build,
    "command": _replaced,
    "depends_on": _depends_on,
    "dns": _to_sequence,
    "dns_opt": _to_sequence,
    "dns_search": _to_sequence,
    "entrypoint": _replaced,
    "env_file": _to_sequence,
    "environment": _to_sequence,
    "extra_hosts": _to_sequence,
    "label_file": _to_sequence,
    "labels": _to_sequence,
    "logging": _logging,
    "networks": _networks,
    "sysctls": _to_sequence,
    "tmpfs": _to_sequence,
}
