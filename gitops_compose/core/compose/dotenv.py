"""The variables of a ``.env`` file, in Compose's dotenv syntax.

``KEY=value`` lines, also ``export KEY=value`` and ``KEY: value``; blank lines and ``#``
comments; unquoted values end at the line or at `` #``; ``'single'`` quotes keep their text
as it is; ``"double"`` quotes may span lines, turn ``\\n`` into a new line and expand
variables, as unquoted values do (``B=${A}_x``, from the lines above). A line of a name
alone takes the value from Compose's environment, which the plan does not see: it and any
value that needs such a variable are left out, so they count as unknown.

The core only reads this for the values that decide what Compose starts; what is not
understood is skipped rather than rejected, and Compose itself says what is wrong at ``up``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gitops_compose.core.compose.interpolation import interpolated

_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_BLANK = " \t\v\f\r\x85\xa0"


def variables(raw: bytes, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """Name -> value of each variable the file sets, in order; see the module's rules.

    ``known`` variables (of a file that includes another) may expand in its values too.
    """
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    found: dict[str, str] = {}
    index = 0
    while index < len(text):
        line_end = _line_end(text, index)
        line = text[index:line_end].lstrip(" \t\v\f\r\n\x85\xa0")
        if not line or line.startswith("#"):
            index = line_end + 1
            continue
        statement = line.removeprefix("export").lstrip(_BLANK) if _exported(line) else line
        separator = re.search(r"[=:]", statement)
        if separator is None:  # a name alone: from the environment
            index = line_end + 1
            continue
        key = statement[: separator.start()].rstrip(_BLANK)
        value_start = line_end - len(statement) + separator.end()
        value_start += len(text[value_start:line_end]) - len(
            text[value_start:line_end].lstrip(_BLANK)
        )
        value, index = _value(text, value_start, {**(known or {}), **found})
        if _KEY.fullmatch(key) and value is not None:
            found[key] = value
        elif _KEY.fullmatch(key):
            found.pop(key, None)
    return found


def _exported(line: str) -> bool:
    return line.startswith("export") and line[6:7] in tuple(_BLANK)


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _value(text: str, start: int, known: Mapping[str, str]) -> tuple[str | None, int]:
    """The value from ``start`` and the index where the next statement may begin."""
    quote = text[start : start + 1]
    if quote in ("'", '"'):
        index = start + 1
        while index < len(text):
            if text[index] == quote and text[index - 1] != "\\":
                body = text[start + 1 : index]
                rest = _line_end(text, index) + 1
                if quote == "'":
                    return body.replace("\\'", "'"), rest
                return interpolated(_unescaped(body), known), rest
            index += 1
        return None, len(text)  # unterminated: Compose rejects the file
    end = _line_end(text, start)
    body = text[start:end].split(" #", 1)[0].rstrip(" \t\v\f\r\x85\xa0")
    return interpolated(body, known), end + 1


def _unescaped(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = match.group(1)
        return {"n": "\n", "r": "\r"}.get(char, char if char in "\\\"'$" else match.group(0))

    return _ESCAPE.sub(one, body)
