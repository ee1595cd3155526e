"""The command line read against the check's usage line first gives what the whole usage
text gives, for any argv; bad input still fails as it did."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from docopt import DocoptExit, docopt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_compose.shell.cli import __doc__ as cli_doc
from gitops_compose.shell.usage import check_line, parse_command_line

USAGE = cli_doc or ""
# environment._explicit reads the same text without its defaults.
WITHOUT_DEFAULTS = re.sub(r"\s*\[default: [^]]*\]", "", USAGE)


def full(usage: str, argv: list[str]) -> dict[str, object] | None:
    """What docopt gives for the whole text; None when it refuses argv."""
    try:
        return dict(docopt(usage, argv, default_help=False))
    except DocoptExit:
        return None


def two_step(usage: str, argv: list[str]) -> dict[str, object] | None:
    try:
        return parse_command_line(usage, argv)
    except DocoptExit:
        return None


COMMANDS = ["plan", "status", "accept-remote", "retry", "sync", "notify-test", "frobnicate"]
FLAGS = [
    "--once",
    "--no-metrics",
    "--self-heal",
    "--no-webhook",
    "--no-rollback",
    "--image-updates",
    "--images",
    "--secrets",
    "--wait",
    "-v",
    "--verbose",
    "-h",
    "--version",
    "--bogus",
    "--wai",  # a prefix of --wait alone
    "--w",  # of --wait and --webhook-secret-file
    "--ima",  # of four options
    "--",
]
VALUED = ["--repo", "--path", "--notify", "--jobs", "--interval", "--engine", "--remote"]
VALUED += ["--log-level", "--format", "--name", "--image-cooldown", "--interv", "--metrics-addr"]
WORDS = ["x", "app", "a b", "-1", "3", "swarm"]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    argv: list[str] = []
    if draw(st.booleans()):
        argv.append(draw(st.sampled_from(COMMANDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flag", "valued", "valued=", "word", "command"]))
        if kind == "flag":
            argv.append(draw(st.sampled_from(FLAGS)))
        elif kind == "valued":
            argv += [draw(st.sampled_from(VALUED)), draw(st.sampled_from(WORDS))]
        elif kind == "valued=":
            argv.append(f"{draw(st.sampled_from(VALUED))}={draw(st.sampled_from(WORDS))}")
        elif kind == "word":
            argv.append(draw(st.sampled_from(WORDS)))
        else:
            argv.append(draw(st.sampled_from(COMMANDS)))
    return argv


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines(), st.booleans())
def test_the_check_line_first_gives_what_the_whole_usage_gives(
    argv: list[str], defaults: bool
) -> None:
    usage = USAGE if defaults else WITHOUT_DEFAULTS
    assert two_step(usage, argv) == full(usage, argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--repo", "/srv/deploy", "--once", "--no-metrics"],
        ["--path", "a", "--path", "b", "--notify", "json://x", "--notify", "json://y"],
        ["-v", "--interval=-1", "--engine", "swarm"],
        ["plan", "--images", "--secrets", "--path", "a"],
        ["status", "--format", "json"],
        ["retry", "app/production"],
        ["sync", "--wait"],
        ["sync", "--wai"],
        ["notify-test", "--notify", "json://x"],
        ["accept-remote", "--repo", "r"],
        ["--version"],
        ["-h"],
    ],
)
def test_commands_and_options_read_as_the_whole_usage_reads_them(argv: list[str]) -> None:
    for usage in (USAGE, WITHOUT_DEFAULTS):
        expected = full(usage, argv)
        assert expected is not None
        assert parse_command_line(usage, argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--images"],  # plan's alone: not an option of a check
        ["--wait"],  # sync's alone
        ["--secrets", "--once"],
        ["--bogus"],
        ["frobnicate"],
        ["retry"],  # without its STACK
        ["--repo"],  # without its PATH
        ["--repo", "a", "--repo", "b"],
        ["--w"],  # ambiguous
        ["plan", "status"],
    ],
)
def test_what_the_whole_usage_refuses_is_refused(argv: list[str]) -> None:
    assert full(USAGE, argv) is None
    with pytest.raises(DocoptExit):
        parse_command_line(USAGE, argv)


def test_the_check_line_is_the_first_line_and_the_others_add_their_keys() -> None:
    line = check_line(USAGE)
    section = line.text.split("Usage:\n", 1)[1].split("\n\n", 1)[0]
    assert section == "  gitops.pyz [options] [--notify URL]... [--path SUBDIR]..."
    assert line.text.endswith(USAGE.split("\n\nCommands:", 1)[1])
    assert line.elsewhere == {"--images", "--secrets", "--wait", "-h", "--help", "--version"}
    # Exactly the keys the whole usage has and the check's line has not.
    whole = full(USAGE, [])
    alone = dict(docopt(line.text, [], default_help=False))
    assert whole is not None
    assert {key: whole[key] for key in whole.keys() - alone.keys()} == line.missing
    assert line.missing == {
        "plan": False,
        "status": False,
        "accept-remote": False,
        "retry": False,
        "sync": False,
        "notify-test": False,
        "STACK": None,
    }


def test_the_options_only_other_lines_name_have_no_default() -> None:
    """A value of one of them is how a parse that is not the check's is told apart."""
    alone = dict(docopt(check_line(USAGE).text, [], default_help=False))
    assert not any(alone[option] for option in check_line(USAGE).elsewhere if option in alone)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--wait"], "unknown command, option or bad arguments in '--wait'"),
        (["--images", "--once"], "unknown command, option or bad arguments"),
        (["status", "--bogus"], "unknown command, option or bad arguments"),
        (["retry"], "unknown command, option or bad arguments in 'retry'"),
    ],
)
def test_bad_input_is_still_one_line_and_exit_2(argv: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gitops_compose", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
