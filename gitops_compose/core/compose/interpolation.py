"""Compose's variable substitution, as far as the plan can know the variables.

The rules are Compose's: ``$$`` is a ``$``; ``$VAR`` and ``${VAR}`` take a value;
``${VAR:-default}`` and ``${VAR-default}`` a default when unset or empty (``:-``) or unset
(``-``); ``${VAR:+alt}`` and ``${VAR+alt}`` an alternative when set and not empty, or set;
``${VAR:?message}`` and ``${VAR?message}`` fail when unset (or empty, with ``:``). A
default or alternative may itself hold variables.

The core knows only the variables it is given (a stack's ``.env``); any other variable is
taken as unset. A value that would need one anyway (a bare ``${VAR}``, a ``?`` form) is
unknown: Compose may get it from its environment, which the plan does not see.
``names_read`` says which variables a text reads, so the shell can tell the core their
values in its environment (see reconcile's configuration).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

_NAME_START = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME = _NAME_START | frozenset("0123456789")


def interpolated(text: str, variables: Mapping[str, str]) -> str | None:
    """``text`` with its variables substituted, or None when the value cannot be known
    (or Compose would reject the text)."""
    if "$" not in text:
        return text
    found = _substituted(text, 0, variables, closing=False)
    return None if found is None else found[0]


def _substituted(
    text: str, start: int, variables: Mapping[str, str], *, closing: bool
) -> tuple[str | None, int] | None:
    """From ``start`` to the end, or to the ``}`` that closes a braced word: the text (None
    when unknown) and the index after it; None for text Compose rejects."""
    out: list[str] = []
    known = True
    index = start
    while index < len(text):
        char = text[index]
        if closing and char == "}":
            return ("".join(out) if known else None), index + 1
        if char != "$":
            out.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        value: str | None
        if following == "$":
            value, index = "$", index + 2
        elif following == "{":
            braced = _braced(text, index + 2, variables)
            if braced is None:
                return None
            value, index = braced
        elif following and following in _NAME_START:
            end = index + 1
            while end < len(text) and text[end] in _NAME:
                end += 1
            value, index = variables.get(text[index + 1 : end]), end
        else:  # a lone $: Compose keeps it
            value, index = "$", index + 1
        known = known and value is not None
        out.append(value or "")
    if closing:
        return None  # no closing brace: Compose rejects it
    return ("".join(out) if known else None), index


def names_read(text: str) -> tuple[str, ...]:
    """The variables ``text`` reads, in the order met, defaults' and alternatives'
    included (whether Compose needs them depends on values the core may not know)."""
    if "$" not in text:
        return ()
    asked = _Asked()
    _substituted(text, 0, asked, closing=False)
    return tuple(asked.names)


class _Asked(Mapping[str, str]):
    """No variable set, each name asked for noted: what a text reads, by substituting it."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}

    def __getitem__(self, name: str) -> str:
        self.names[name] = None
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


def _braced(text: str, start: int, variables: Mapping[str, str]) -> tuple[str | None, int] | None:
    """``NAME}`` or ``NAME<operator>word}`` from ``start``: the value (None when unknown)
    and the index after the brace; None for text Compose rejects."""
    end = start
    while end < len(text) and text[end] in _NAME:
        end += 1
    name = text[start:end]
    if not name or end >= len(text):
        return None
    if text[end] == "}":
        return variables.get(name), end + 1
    operator = next((each for each in _OPERATORS if text.startswith(each, end)), None)
    if operator is None:
        return None
    word = _substituted(text, end + len(operator), variables, closing=True)
    if word is None:
        return None
    alternative, after = word
    value = variables.get(name)
    missing = not value if operator.startswith(":") else value is None
    match operator.lstrip(":"):
        case "-":
            return (alternative if missing else value), after
        case "+":
            return ("" if missing else alternative), after
        case _:  # "?": Compose fails, or takes the value from its environment
            return (None if missing else value), after
