"""Variables as Compose reads them: dotenv files and ``${VAR}`` substitution, for the values
that decide which services start and which files a stack reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_compose.core.compose.dotenv import variables
from gitops_compose.core.compose.interpolation import interpolated

KNOWN = {"SET": "1", "EMPTY": "", "DIR": "../shared"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("plain", "plain"),
        ("${SET}", "1"),
        ("$SET/x", "1/x"),
        ("${DIR}/app.env", "../shared/app.env"),
        ("${UNSET:-0}", "0"),
        ("${EMPTY:-0}", "0"),
        ("${EMPTY-0}", ""),
        ("${UNSET-0}", "0"),
        ("${SET:-0}", "1"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?needed}", "1"),
        ("${SET?needed}", "1"),
        ("${EMPTY?needed}", ""),
        ("$$SET", "$SET"),
        ("a$$b", "a$b"),
        ("${UNSET:-${SET}}", "1"),
        ("${UNSET:-${DIR}/x}", "../shared/x"),
        ("${SET:-${UNSET}}", "1"),
        ("cost: 5$", "cost: 5$"),
        # What only Compose's environment could give: not known to the plan.
        ("${UNSET}", None),
        ("$UNSET", None),
        ("${UNSET:?needed}", None),
        ("${EMPTY:?needed}", None),
        ("${UNSET?needed}", None),
        ("${UNSET:-${OTHER}}", None),
        # Text Compose rejects.
        ("${SET", None),
        ("${}", None),
        ("${SET!x}", None),
    ],
)
def test_substitution_follows_compose(text: str, value: str | None) -> None:
    assert interpolated(text, KNOWN) == value


@given(st.text(st.sampled_from("${}:-+?$AB_ x")))
def test_any_text_gives_a_value_or_none_never_an_exception(text: str) -> None:
    found = interpolated(text, {"A": "a"})
    assert found is None or isinstance(found, str)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A=1\nB = 2\n  C=3  \n", {"A": "1", "B": "2", "C": "3"}),
        ("# comment\n\nA=1 # inline\nB=a#b\n", {"A": "1", "B": "a#b"}),
        ("export A=1\nexport B='x'\n", {"A": "1", "B": "x"}),
        ("A: 1\n", {"A": "1"}),
        ("A='${X} \\n'\n", {"A": "${X} \\n"}),
        ('A="line\\nnext"\n', {"A": "line\nnext"}),
        ('A="one\ntwo"\nB=3\n', {"A": "one\ntwo", "B": "3"}),
        ("A=1\nB=${A}_x\nC=\"$A\"\nD='$A'\n", {"A": "1", "B": "1_x", "C": "1", "D": "$A"}),
        ("A=${UNSET:-d}\n", {"A": "d"}),
        ("FROM_ENVIRONMENT\nA=1\n", {"A": "1"}),
        ("A=${FROM_ENVIRONMENT}\n", {}),
        ("\ufeffA=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("COMPOSE_PROFILES=debug,ops\n", {"COMPOSE_PROFILES": "debug,ops"}),
    ],
)
def test_dotenv_syntax(text: str, found: dict[str, str]) -> None:
    assert variables(text.encode()) == found


def test_variables_of_an_including_file_expand_in_an_included_env() -> None:
    assert variables(b"B=${A}/x\n", {"A": "up"}) == {"B": "up/x"}


# Compose's own dotenv fixtures, with the values Compose reads from them (a name alone, or a
# value through a variable Compose would take from its environment, is not known here).
FIXTURES = Path("/work/shared/compose-corpus/compose-go/dotenv/fixtures")
PLAIN = {
    "OPTION_A": "1",
    "OPTION_B": "2",
    "OPTION_C": "3",
    "OPTION_D": "4",
    "OPTION_E": "5",
    "456": "ABC",
    "OPTION_F": "",
    "OPTION_G": "",
    "OPTION_H": "my string",
}
SUBSTITUTED = {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1"}
EXPECTED = {
    "plain.env": PLAIN,
    "utf8-bom.env": PLAIN,
    "quoted.env": {
        "OPTION_A": "1",
        "OPTION_B": "2",
        "OPTION_C": "",
        "OPTION_D": "\\n",
        "OPTION_E": "1",
        "OPTION_F": "2",
        "OPTION_G": "",
        "OPTION_H": "\n",
        "OPTION_I": "echo 'asd'",
        "OPTION_J": "first line\nsecond line\nthird line\nand so on",
        "OPTION_K": "Let's go!",
        "OPTION_Z": "last value",
    },
    "exported.env": {"OPTION_A": "2", "OPTION_B": "\\n"},
    "equals.env": {"OPTION_A": "postgres://localhost:5432/database?sslmode=disable"},
    "substitutions.env": SUBSTITUTED,
    "substitutions-default.env": SUBSTITUTED,
    "special.env": {
        "VAR.WITH.DOTS": "dots",
        "VAR_WITH_UNDERSCORES": "underscores",
        "VAR-WITH-DASHES": "dashes",
    },
    "custom.format": {"FOO": "BAR", "ZOT": "QIX"},
    "inherited-single-var.env": {},
    "inherited-not-found.env": {},
    "inherited-multi-var.env": {"foo": "bar", "bar": "baz"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_composes_dotenv_fixtures_read_as_compose_reads_them(name: str) -> None:
    assert (FIXTURES / name).is_file(), f"the compose-go corpus is missing at {FIXTURES}"
    assert variables((FIXTURES / name).read_bytes()) == EXPECTED[name]


def test_composes_unquoted_fixture_keeps_text_and_drops_quotes() -> None:
    found = variables((FIXTURES / "unquoted.env").read_bytes())
    assert found["OPTION_A"] == "some quoted phrase"
    assert found["OPTION_C"] == "then another one with an unquoted phrase"
    assert found["OPTION_D"].endswith("special è char")
