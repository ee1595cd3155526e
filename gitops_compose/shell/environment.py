"""The environment variables of the original GitopsCompose 1.0, each standing for one of
our options: a repository and environment written for it work without any option. An
option given on the command line wins over its variable."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gitops_compose.shell.usage import parse_command_line

# Variable, the option it stands for.
VALUED = {
    "REPOSITORY_PATH": "--repo",
    "CHECK_INTERVAL_IN_SECONDS": "--interval",
    "LOG_FORMAT": "--log-format",
    "LOG_LEVEL": "--log-level",
}
# Variable, the option its "false" stands for, and the options that win over that.
SWITCHES = {
    "WEBHOOK_ENABLED": ("--no-webhook", ("--webhook-secret-file",)),
    "METRICS_ENABLED": ("--no-metrics", ("--metrics-addr",)),
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
# The original's level names, beside Python's.
LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning"}
LOG_LEVELS |= {"error": "error"}


class BadVariable(ValueError):
    """An environment variable with a value its option cannot take."""


def with_environment(
    given: Mapping[str, object], argv: list[str], usage: str, environ: Mapping[str, str]
) -> dict[str, object]:
    """docopt's options, with each variable set standing in for an option not on the
    command line."""
    merged = dict(given)
    wanted = [name for name in (*VALUED, *SWITCHES) if environ.get(name, "").strip()]
    if not wanted:
        return merged
    explicit = _explicit(argv, usage)
    for name, option in VALUED.items():
        value = environ.get(name, "").strip()
        if value and not explicit[option]:
            merged[option] = value
    for name, (option, winners) in SWITCHES.items():
        value = environ.get(name, "").strip().lower()
        if not value:
            continue
        if value not in _TRUE | _FALSE:
            raise BadVariable(f"{name} must be true or false, not {environ[name]!r}")
        if value in _FALSE and not any(explicit[each] for each in winners):
            merged[option] = True
    return merged


def _explicit(argv: list[str], usage: str) -> Mapping[str, object]:
    """The options as given on the command line: None or False where only a default was."""
    return parse_command_line(re.sub(r"\s*\[default: [^]]*\]", "", usage), argv)
