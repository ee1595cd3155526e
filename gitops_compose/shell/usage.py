"""How a command line is read against the usage text (cli's docstring, its one home).

docopt-ng matches argv against every line of the Usage section at once, and readying that
pattern grows with the square of its size (its patterns compare by ``repr``): seven lines
that each take ``[options]`` cost some 20 ms a run, more than an idle check's own work
beside git and Docker. Most runs are checks, whose argv fits the first line (the check's:
``gitops.pyz [options] [--notify URL]... [--path SUBDIR]...``), so the line is read alone
first, from the same text with only that line in its Usage section (``check_usage``).

That answer is the full text's answer whenever it holds: both read argv with the same
Options section, so into the same tokens, and the full text tries its lines in order and
takes the first that leaves nothing over, here the check's line. Two things differ and are
made up for: the keys of the other lines (their commands False, their arguments None) are
added; and the options the other lines name (``--images``, ``--wait``, ``--help``...) are
no part of the full text's ``[options]``, but are of the check's line alone, so a parse
that gave one of them a value is not the check's, and the full text reads the argv again.
So does any argv the check's line refuses: a command, or bad input, whose error is the
full text's own. tests/shell/test_usage.py holds the two answers equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import final

from docopt import DocoptExit, docopt

from gitops_compose.core.value import Value

# The Usage section: its heading, then its lines, each indented.
_SECTION = re.compile(r"^Usage:[ \t]*\n((?:[ \t]+\S.*\n?)+)", re.MULTILINE)
# The words of a usage line, without brackets, parentheses and bars.
_WORDS = re.compile(r"[^\s\[\]()|]+")
_REPEATED = "..."
_SHORTCUT = "options"


@final
class CheckLine(Value):
    """The usage text with the check's line alone, and what the other lines add."""

    # The usage text, its Usage section cut to its first line.
    text: str
    # The options that the other lines name and the first does not.
    elsewhere: frozenset[str]
    # The keys of the other lines' commands (False) and arguments (None).
    missing: Mapping[str, object]


def check_line(usage: str) -> CheckLine:
    """The check's line of the usage text, as a text of its own."""
    found = _SECTION.search(usage)
    if found is None:
        raise ValueError("the usage text has no Usage section")
    first, *others = found[1].rstrip("\n").split("\n")
    text = f"{usage[: found.start(1)]}{first}\n{usage[found.end(1) :]}"
    in_first = set(_options(first))
    elsewhere: set[str] = set()
    missing: dict[str, object] = {}
    for line in others:
        words = _WORDS.findall(line)[1:]  # the program's name first
        for before, word in zip(["", *words[:-1]], words, strict=True):
            if word.startswith("-"):
                if word not in in_first:
                    elsewhere.add(word)
            elif word in (_REPEATED, _SHORTCUT) or before.startswith("-"):
                continue  # an option's argument is its value, not a key of its own
            elif word.isupper() or word.startswith("<"):
                missing[word] = None
            else:
                missing[word] = False
    return CheckLine(text=text, elsewhere=frozenset(elsewhere), missing=missing)


def _options(line: str) -> list[str]:
    return [word for word in _WORDS.findall(line) if word.startswith("-")]


def parse_command_line(usage: str, argv: Sequence[str]) -> dict[str, object]:
    """docopt's answer for argv under the usage text: the check's line first, then the
    whole text when that line does not take argv. Raises docopt's DocoptExit on bad input,
    as docopt does."""
    line = check_line(usage)
    given = _parsed(line.text, argv)
    if given is not None and not any(given.get(option) for option in line.elsewhere):
        return {**line.missing, **given}
    return dict(docopt(usage, list(argv), default_help=False))


def _parsed(text: str, argv: Sequence[str]) -> dict[str, object] | None:
    """The check's line's answer, or None when it does not take argv."""
    try:
        return dict(docopt(text, list(argv), default_help=False))
    except DocoptExit:
        return None
