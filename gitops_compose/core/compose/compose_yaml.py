"""Compose files read as Compose reads them: YAML 1.2 as compose-go reads it over yaml.v3.

- Scalars follow the YAML 1.2 core schema as yaml.v3 resolves them: only ``true``/``false``
  (also ``True``, ``TRUE``, ...) are booleans, so ``on``, ``yes`` and ``n`` are strings;
  ``null``, ``~`` and an empty value are null; ``0x1F``, ``0o17``, ``017`` and ``0b11`` are
  integers; ``1:20`` is a string (no sexagesimal); plain dates are timestamps (``Timestamp``).
- Anchors, aliases and merge keys (``<<: *base``, ``<<: [*a, *b]``; keys written in the
  mapping win, then the first merged mapping).
- ``!reset`` and ``!override`` mark a value for the merge of documents and files (see
  compose_merge); several documents in a file are merged in order, as override files are.
- A key defined twice in a mapping, or a key that is not a string, is an error, as in
  Compose.
- Bounds, so that a hostile or broken file costs its stack alone a bounded time and memory:
  ``MAX_BYTES`` of text, ``MAX_DEPTH`` levels of nesting, ``MAX_ALIASED`` nodes added by
  aliases ("billion laughs").

Built on PyYAML's parser: only its events are used, and the values are built here, without
recursion. Which parser is the shell's choice (libyaml's where PyYAML has it, as in the venv;
``PURE_LOADER`` in gitops.pyz), passed in with the parse cache; both give the same events.
Only the shell imports this module, when the first Compose file is read (see ParseCache).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from math import inf, nan
from typing import Any, final

import yaml
from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_merge import Document, Path

MAX_BYTES = 2**20
MAX_DEPTH = 500
MAX_ALIASED = 100_000


@final
@dataclass(frozen=True, slots=True)
class Timestamp:
    """A plain date or time (``2024-01-01``), which yaml.v3 reads as a time, not a string:
    Compose refuses one as a key or a label value."""

    text: str

    def __str__(self) -> str:
        return self.text


def documents(raw: bytes, loader: type[yaml.SafeLoader]) -> Result[tuple[Document, ...], str]:
    """The documents of one file, each a mapping, read with ``loader`` (PyYAML's
    CSafeLoader or ``PURE_LOADER``); any bytes give documents or a reason."""
    if len(raw) > MAX_BYTES:
        return Failure(f"the file is larger than {MAX_BYTES // 2**20} MiB")
    text = _text(raw)
    if isinstance(text, Failure):
        return text
    parser = None
    try:
        parser = loader(text.unwrap())  # the pure one checks the characters here
        return _Builder(parser).documents()
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        position = getattr(error, "position", None)  # a character the reader refuses
        if mark is not None:
            first_line += f" (line {mark.line + 1})"
        elif isinstance(position, int):
            first_line += f" (line {text.unwrap().count(chr(10), 0, position) + 1})"
        return Failure(first_line)
    finally:
        if parser is not None:
            parser.dispose()


def _pure_loader() -> type[yaml.SafeLoader]:
    """PyYAML's pure parser, without its quadratic look-ahead on deeply nested flow text.

    It keeps one possible simple key per flow level and scans all of them for every token
    (5,000 ``[`` on one line took a second). The keys are saved in the order of the text,
    so the oldest one is the first: these two give PyYAML's answers in constant time.
    """

    class Loader(yaml.SafeLoader):
        def next_possible_simple_key(self) -> int | None:
            for key in self.possible_simple_keys.values():
                return int(key.token_number)
            return None

        def stale_possible_simple_keys(self) -> None:
            keys = self.possible_simple_keys
            while keys:
                level, key = next(iter(keys.items()))
                if key.line == self.line and self.index - key.index <= 1024:
                    return  # the oldest is fresh, so are the others
                if key.required:
                    raise yaml.scanner.ScannerError(
                        "while scanning a simple key",
                        key.mark,
                        "could not find expected ':'",
                        self.get_mark(),
                    )
                del keys[level]

        def scan_plain(self) -> yaml.ScalarToken:
            # PyYAML ends a plain scalar at a "?" in flow context (YAML 1.1); YAML 1.2, as
            # libyaml and yaml.v3 read it, only at ",[]{}" and ": ": {a?} is {"a?": null}.
            blank = "\0 \t\r\n\x85\u2028\u2029"
            ends = ",[]{}" if self.flow_level else ""
            chunks: list[str] = []
            start = end = self.get_mark()
            indent = self.indent + 1
            spaces: list[str] = []
            while self.peek() != "#":
                length = 0
                while True:
                    ch = self.peek(length)
                    if ch in blank or ch in ends:
                        break
                    if ch == ":" and self.peek(length + 1) in blank + ends:
                        break
                    length += 1
                if length == 0:
                    break
                self.allow_simple_key = False
                chunks.extend(spaces)
                chunks.append(self.prefix(length))
                self.forward(length)
                end = self.get_mark()
                spaces = self.scan_plain_spaces(indent, start) or []
                if not spaces or self.peek() == "#":
                    break
                if not self.flow_level and self.column < indent:
                    break
            return yaml.ScalarToken("".join(chunks), True, start, end)

    return Loader


PURE_LOADER = _pure_loader()


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _text(raw: bytes) -> Result[str, str]:
    """UTF-8 (or UTF-16 with a byte order mark), as yaml.v3 reads; else which byte, where."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom) :], name
            break
    try:
        return Success(raw.decode(encoding))
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        if encoding != "utf-8":
            return Failure(f"not {encoding.upper()} text (line {line})")
        return Failure(f"byte 0x{raw[error.start]:02x} is not UTF-8 text (line {line})")


# --- scalars ---------------------------------------------------------------------------

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_RESET = "!reset"
_OVERRIDE = "!override"
_MERGE = object()  # the ``<<`` key

_WORDS: dict[str, object] = {
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys(["true", "True", "TRUE"], True),
    **dict.fromkeys(["false", "False", "FALSE"], False),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -inf),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], nan),
    "<<": _MERGE,
}
_NUMBER_START = frozenset("+-.0123456789")
_FLOAT_TEXT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_TIMESTAMP_TEXT = re.compile(
    r"(\d{4})-(\d\d?)-(\d\d?)"
    r"(?:(?:[Tt]|[ \t]+)(\d\d?):(\d\d):(\d\d)(?:\.(\d+))?[ \t]*(Z|[-+]\d\d?(?::?\d\d)?)?)?"
)
_BASES = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}


def resolved(text: str) -> object:
    """A plain scalar's value, as yaml.v3 resolves it."""
    found = _WORDS.get(text, text)
    if found is not text or not text or text[0] not in _NUMBER_START:
        return found
    if text[0].isdigit() and _TIMESTAMP_TEXT.fullmatch(text):
        return Timestamp(text)
    return _number(text.replace("_", ""), text)


def _number(plain: str, text: str) -> object:
    sign, digits = (plain[0], plain[1:]) if plain[:1] in "+-" else ("", plain)
    base = _BASES.get(digits[:2], 8 if len(digits) > 1 and digits[0] == "0" else 10)
    body = digits[2:] if digits[:2] in _BASES else digits
    if body and (base != 10 or body.isdigit()):
        try:
            value = int(body, base)
        except ValueError:
            pass
        else:
            value = -value if sign == "-" else value
            if -(2**63) <= value < 2**64:
                return value
    if _FLOAT_TEXT.fullmatch(plain):
        return float(plain)
    return text


def _tagged(tag: str, text: str) -> object:
    """A scalar with an explicit tag: the standard ones are checked, others give the text
    (yaml.v3 ignores tags it does not know)."""
    if tag == _STR or not tag.startswith("tag:yaml.org,2002:"):
        return text
    value = resolved(text)
    expected: dict[str, Callable[[object], bool]] = {
        _NULL: lambda found: found is None,
        _BOOL: lambda found: isinstance(found, bool),
        _INT: lambda found: isinstance(found, int) and not isinstance(found, bool),
        _FLOAT: lambda found: isinstance(found, int | float) and not isinstance(found, bool),
        _TIMESTAMP: lambda found: isinstance(found, Timestamp),
    }
    check = expected.get(tag)
    if check is None:
        return text  # !!binary and the like: Compose has no use for them
    if not check(value):
        raise _Problem(f"cannot decode {text!r} as {tag.replace('tag:yaml.org,2002:', '!!')}")
    return float(value) if tag == _FLOAT else value  # type: ignore[arg-type]


# --- building values from events ---------------------------------------------------------


class _Problem(Exception):
    """A document that parses but that Compose refuses: message and line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")


@dataclass(slots=True)
class _Node:
    """A mapping or sequence being built."""

    value: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    start: int  # nodes counted before it, for the size of an anchored one
    line: int
    key: object = None  # a mapping's key waiting for its value
    has_key: bool = False
    key_line: int = 0
    lines: dict[str, int] = field(default_factory=dict)  # key -> line, for duplicates
    merges: list[Any] = field(default_factory=list)
    drop: bool = False  # tagged !reset: left out of the document


class _Builder:
    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader: Any = loader  # PyYAML's parsing methods have no annotations

    def documents(self) -> Result[tuple[Document, ...], str]:
        events = yaml.events
        found: list[Document] = []
        self.loader.get_event()  # StreamStart
        while not self.loader.check_event(events.StreamEndEvent):
            self.loader.get_event()  # DocumentStart
            self.anchors: dict[str, tuple[object, int]] = {}
            self.count = 0
            self.aliased = 0
            self.resets: list[Path] = []
            self.overrides: list[Path] = []
            try:
                value = self.document(events)
            except _Problem as problem:
                return Failure(str(problem))
            self.loader.get_event()  # DocumentEnd
            if not isinstance(value, dict):
                return Failure("top-level object must be a mapping")
            found.append(Document(value, tuple(self.resets), tuple(self.overrides)))
        return Success(tuple(found))

    def document(self, events: Any) -> object:
        scalar, alias = events.ScalarEvent, events.AliasEvent
        mapping_start, sequence_start = events.MappingStartEvent, events.SequenceStartEvent
        stack: list[_Node] = []
        get_event = self.loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            line = event.start_mark.line + 1 if event.start_mark else 0
            done: object
            if kind is scalar:
                self.count += 1
                tag = event.tag
                if tag is None or tag in (_RESET, _OVERRIDE):
                    done = resolved(event.value) if event.implicit[0] else event.value
                elif tag == "!":
                    done = event.value
                else:
                    done = _tagged(tag, event.value)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (done, 1)
                if tag in (_RESET, _OVERRIDE) and stack:
                    done = self.mark(stack[-1], tag, done)
            elif kind is alias:
                if event.anchor not in self.anchors:
                    raise _Problem(f"unknown anchor '{event.anchor}' referenced", line)
                done, size = self.anchors[event.anchor]
                self.count += size
                self.aliased += size
                if self.aliased > MAX_ALIASED:
                    raise _Problem(
                        f"document contains excessive aliasing (over {MAX_ALIASED:,} nodes)",
                        line,
                    )
            elif kind is mapping_start or kind is sequence_start:
                if len(stack) >= MAX_DEPTH:
                    raise _Problem(f"nesting deeper than {MAX_DEPTH:,} levels", line)
                self.count += 1
                path = self.child_path(stack)
                empty: dict[str, Any] | list[Any] = {} if kind is mapping_start else []
                node = _Node(empty, path, event.anchor, self.count - 1, line)
                if event.tag in (_RESET, _OVERRIDE) and stack:
                    node.drop = self.mark(stack[-1], event.tag, None) is _DROPPED
                stack.append(node)
                continue
            else:  # MappingEnd or SequenceEnd
                node = stack.pop()
                done = self.finished(node)
                if node.drop:
                    done = _DROPPED
            if not stack:
                return done
            self.add(stack[-1], done, line)

    def child_path(self, stack: list[_Node]) -> Path:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent.value, dict) and parent.has_key and isinstance(parent.key, str):
            return (*parent.path, parent.key)
        return (*parent.path, "*")

    def mark(self, parent: _Node, tag: str, value: object) -> object:
        """Record a !reset or !override at the path of the value; a reset value is dropped."""
        if isinstance(parent.value, list):
            return _DROPPED if tag == _RESET else value  # an item: dropped, not merged
        if not parent.has_key:
            return value  # on a key: no meaning
        if not isinstance(parent.key, str):
            return value
        path = (*parent.path, parent.key)
        if tag == _RESET:
            self.resets.append(path)
            return _DROPPED
        self.overrides.append(path)
        return value

    def finished(self, node: _Node) -> object:
        value = node.value
        if isinstance(value, dict) and node.merges:
            for source in node.merges:  # the first merged mapping wins, written keys first
                for key, item in source.items():
                    value.setdefault(key, item)
        if node.anchor is not None:
            self.anchors[node.anchor] = (value, self.count - node.start)
        return value

    def add(self, parent: _Node, value: object, line: int) -> None:
        if value is _MERGE and (parent.has_key or isinstance(parent.value, list)):
            value = "<<"  # a merge key only where a key is
        if isinstance(parent.value, list):
            if value is not _DROPPED:
                parent.value.append(value)
            return
        if not parent.has_key:
            if isinstance(value, dict | list):
                raise _Problem(f"{_where(parent.path)} has a mapping or sequence as a key", line)
            parent.key, parent.has_key, parent.key_line = value, True, line
            return
        key, parent.key, parent.has_key = parent.key, None, False
        if key is _MERGE:
            parent.merges.extend(_merge_sources(value, line))
            return
        if not isinstance(key, str):
            raise _Problem(f"non-string key {_where(parent.path)}: {_key_text(key)}")
        if key in parent.lines:
            raise _Problem(
                f'mapping key "{key}" already defined at line {parent.lines[key]}',
                parent.key_line,
            )
        parent.lines[key] = parent.key_line
        if value is not _DROPPED:
            parent.value[key] = value


_DROPPED = object()


def _merge_sources(value: object, line: int) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(each, dict) for each in value):
        return list(value)
    raise _Problem("map merge requires map or sequence of maps as the value", line)


def _where(path: Path) -> str:
    return f"in {'.'.join(path)}" if path else "at top level"


def _key_text(key: object) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)
