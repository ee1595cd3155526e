"""The command line read into options, and the check (deploy) run from them; the other
commands (plan, status, ...) are in subcommands, reached through the seam (features)."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from docopt import DocoptExit
from returns.result import Failure

from gitops_compose.core.compose.scope import Scope, scope_of
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.shell import features, log
from gitops_compose.shell.deploy import (
    EXIT_BUSY,
    EXIT_OK,
    EXIT_USAGE,
    Options,
    UsageError,
    deploy,
)
from gitops_compose.shell.environment import LOG_LEVELS, BadVariable, with_environment
from gitops_compose.shell.git_repository import name_problem
from gitops_compose.shell.state_file import Busy
from gitops_compose.shell.usage import parse_command_line

if TYPE_CHECKING:
    from gitops_compose.shell.commit_statuses import ForgeOptions
    from gitops_compose.shell.notifier import NotifySettings


def run(argv: list[str], usage: str) -> int:
    try:
        command, options = parse_options(argv, usage)
        log.configure(options.log_format, options.log_level)
        if command != "deploy":
            return features.command(command)(options)
        return deploy(options)
    except UsageError as error:
        print(f"gitops-compose: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Busy as busy:
        print(f"gitops-compose: {busy}; not checking twice at once", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        return EXIT_OK


def parse_options(argv: list[str], usage: str) -> tuple[str, Options]:
    try:
        parsed = parse_command_line(usage, argv)
    except DocoptExit:
        raise UsageError(
            f"unknown command, option or bad arguments in {' '.join(argv)!r}; see --help"
        ) from None
    try:
        given = with_environment(parsed, argv, usage, os.environ)
    except BadVariable as bad:
        raise UsageError(str(bad)) from None
    if given["--wait"] and not given["sync"]:
        raise UsageError("--wait goes with sync only")
    if given["--images"] and not given["plan"]:
        raise UsageError("--images goes with plan only")
    level = str(given["--log-level"]).strip().lower()
    if level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be debug, info, warning or error, not {level!r}")
    for option in ("--log-format", "--format"):
        if given[option] not in {"text", "json"}:
            raise UsageError(f"{option} must be text or json, not {given[option]!r}")
    for option in ("--remote", "--branch"):
        if given[option] is not None:
            problem = name_problem(option, str(given[option]))
            if problem is not None:
                raise UsageError(problem)
    ssh_key = Path(str(given["--ssh-key"])) if given["--ssh-key"] else None
    if ssh_key is not None and not ssh_key.is_file():
        raise UsageError(f"--ssh-key {ssh_key}: no such file")
    commands = ("plan", "status", "accept-remote", "retry", "sync", "notify-test")
    command = next((each for each in commands if given[each]), "deploy")
    return command, Options(
        repo=Path(str(given["--repo"])),
        remote=str(given["--remote"]),
        branch=str(given["--branch"]) if given["--branch"] else None,
        interval=_interval(given["--interval"]),
        once=bool(given["--once"]),
        self_heal=bool(given["--self-heal"]),
        state_dir=Path(str(given["--state-dir"])) if given["--state-dir"] else None,
        metrics_addr=None if given["--no-metrics"] else _address(str(given["--metrics-addr"])),
        metrics_file=Path(str(given["--metrics-file"])) if given["--metrics-file"] else None,
        compose_timeout=_seconds("--compose-timeout", given["--compose-timeout"]),
        jobs=_jobs(given["--jobs"]),
        health_timeout=_seconds("--health-timeout", given["--health-timeout"], zero=True),
        settle=_seconds("--settle", given["--settle"], zero=True),
        rollback=not given["--no-rollback"],
        images=ImageSettings(
            follow=bool(given["--image-updates"]),
            interval=_seconds("--image-interval", given["--image-interval"]),
            cooldown=_duration("--image-cooldown", given["--image-cooldown"]),
            now=bool(given["--images"]),
        ),
        stack=str(given["STACK"]) if given["STACK"] else None,
        ssh_key=ssh_key,
        output_format=str(given["--format"]),
        log_format=str(given["--log-format"]),
        log_level=logging.DEBUG if given["--verbose"] else _LEVELS[LOG_LEVELS[level]],
        wait=bool(given["--wait"]),
        webhook_secret=None if given["--no-webhook"] else _secret(given["--webhook-secret-file"]),
        notify=_notify(given),
        sops_age_key_file=_key_file(given["--sops-age-key-file"]),
        secrets=bool(given["--secrets"]),
        scope=_scope(given),
        forge=_forge(given),
        engine=_engine(given["--engine"]),
    )


NOTIFY_VARIABLE = "GITOPS_NOTIFY_URLS"
PATH_VARIABLE = "GITOPS_PATH"


def _scope(given: Mapping[str, object]) -> Scope:
    """The subtrees of --path, else of $GITOPS_PATH (separated by white space, commas or
    colons); neither: the whole repository."""
    listed = given["--path"]
    if isinstance(listed, list):
        paths = [str(each) for each in listed]
    else:
        paths = [str(listed)] if listed else []
    if not paths:
        variable = os.environ.get(PATH_VARIABLE, "").strip()
        paths = [each for each in re.split(r"[\s,:]+", variable) if each]
    found = scope_of(paths)
    if isinstance(found, Failure):
        raise UsageError(found.failure())
    return found.unwrap()


def _notify(given: Mapping[str, object]) -> NotifySettings | None:
    """The notification targets and how, or None without a target."""
    on_text = str(given["--notify-on"]).strip().lower()
    if on_text not in {"failures", "changes"}:
        raise UsageError(f"--notify-on must be failures or changes, not {on_text!r}")
    timeout = _seconds("--notify-timeout", given["--notify-timeout"])
    listed = given["--notify"]
    if isinstance(listed, list):
        urls = [str(each).strip() for each in listed]
    else:
        urls = [str(listed).strip()] if listed else []
    if not urls:
        urls = re.split(r"[\s,]+", os.environ.get(NOTIFY_VARIABLE, "").strip())
    urls = [each for each in urls if each]
    if not urls:
        return None
    found = features.notify_settings(tuple(urls), on_text, timeout, _host_name(given))
    if isinstance(found, Failure):
        raise UsageError(found.failure())
    return found.unwrap()


def _host_name(given: Mapping[str, object]) -> str:
    """This host's name in notifications and commit statuses: --name, or the hostname."""
    name = str(given["--name"]).strip() if given["--name"] else socket.gethostname()
    if not name:
        raise UsageError("--name must not be empty")
    return name


FORGE_TOKEN_VARIABLE = "GITOPS_FORGE_TOKEN"
_FORGE_OPTIONS = ("--forge-token-file", "--forge-url", "--forge-repo")


def _forge(given: Mapping[str, object]) -> ForgeOptions | None:
    """The forge to post commit statuses to and how, or None without --commit-status; what
    the remote's URL gives is worked out once the clone is open (deploy)."""
    chosen = given["--commit-status"]
    if chosen is None:
        for option in _FORGE_OPTIONS:
            if given[option] is not None:
                raise UsageError(f"{option} goes with --commit-status FORGE")
        return None
    api = str(given["--forge-url"]).strip().rstrip("/") if given["--forge-url"] else None
    repository = str(given["--forge-repo"]).strip().strip("/") if given["--forge-repo"] else None
    problem = features.forge_problem(str(chosen), api, repository)
    if problem is not None:
        raise UsageError(problem)
    return features.forge_options(
        str(chosen),
        token=_forge_token(given["--forge-token-file"]),
        api=api,
        repository=repository,
        name=_host_name(given),
        timeout=_seconds("--notify-timeout", given["--notify-timeout"]),
    )


def _forge_token(path: object) -> str:
    """The forge's token, from the file, else the environment; white space around it (a
    file's last newline) is not part of it."""
    if path is None:
        token = os.environ.get(FORGE_TOKEN_VARIABLE, "").strip()
        if not token:
            raise UsageError(
                "--commit-status needs the forge's token: pass --forge-token-file PATH "
                f"or set {FORGE_TOKEN_VARIABLE}"
            )
        where = FORGE_TOKEN_VARIABLE
    else:
        where = f"--forge-token-file {path}"
        try:
            token = Path(str(path)).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise UsageError(f"{where}: {why or error}") from None
        if not token:
            raise UsageError(f"{where} is empty")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise UsageError(f"{where}: a token is one word of printable ASCII")
    return token


ENGINE_VARIABLE = "GITOPS_ENGINE"


def _engine(value: object) -> Engine:
    """--engine, else $GITOPS_ENGINE, else Compose."""
    given = str(value) if value else os.environ.get(ENGINE_VARIABLE, "")
    text = given.strip().lower() or Engine.COMPOSE.value
    try:
        return Engine(text)
    except ValueError:
        named = "--engine" if value else ENGINE_VARIABLE
        raise UsageError(f"{named} must be compose or swarm, not {given!r}") from None


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_LEVELS |= {"warning": logging.WARNING, "error": logging.ERROR}
SECRET_VARIABLE = "GITOPS_WEBHOOK_SECRET"


def _key_file(value: object) -> Path | None:
    """The age key file for sops: it must be a file this process can read."""
    if value is None:
        return None
    path = Path(str(value))
    if not path.is_file() or not os.access(path, os.R_OK):
        raise UsageError(f"--sops-age-key-file {path}: no readable file")
    return path.absolute()


def _interval(value: object) -> float | None:
    """-1, as CHECK_INTERVAL_IN_SECONDS of the original takes it: no polling."""
    if str(value).strip() in {"-1", "-1.0"}:
        return None
    return _seconds("--interval", value)


def _secret(path: object) -> bytes | None:
    """The webhook's secret, from the file, else the environment; surrounding white space
    (a file's last newline) is not part of it."""
    if path is None:
        secret = os.environ.get(SECRET_VARIABLE, "").strip().encode()
        return secret or None
    try:
        secret = Path(str(path)).read_bytes().strip()
    except OSError as error:
        raise UsageError(f"--webhook-secret-file {path}: {error.strerror or error}") from None
    if not secret:
        raise UsageError(f"--webhook-secret-file {path} is empty")
    return secret


def _seconds(option: str, value: object, *, zero: bool = False) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = math.nan
    if math.isnan(seconds):
        raise UsageError(f"{option} takes a number of seconds, not {value!r}")
    if zero and seconds == 0:
        return 0.0
    if not seconds > 0:
        least = "0 or more" if zero else "more than 0"
        raise UsageError(f"{option} must be {least} seconds, not {value!r}")
    if seconds > LONGEST_SECONDS:
        raise UsageError(f"{option} must be at most {LONGEST_SECONDS} seconds (a year)")
    return seconds


LONGEST_SECONDS = 365 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(option: str, value: object) -> float:
    """Seconds, or a number with a unit: 90s, 30m, 6h, 1d."""
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    if unit is None:
        return _seconds(option, text, zero=True)
    try:
        seconds = float(text[:-1]) * unit
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= LONGEST_SECONDS:
        raise UsageError(f"{option} takes seconds or a duration like 30m, 6h or 1d, not {value!r}")
    return seconds


MOST_JOBS = 64


def _whole(text: str) -> bool:
    """Digits 0 to 9 only: int() also reads "٣" and " 3", isdigit() also "²"."""
    return text.isascii() and text.isdigit()


def _jobs(value: object) -> int:
    text = str(value)
    if not _whole(text) or not 1 <= int(text) <= MOST_JOBS:
        raise UsageError(f"--jobs takes a whole number from 1 to {MOST_JOBS}, not {text!r}")
    return int(text)


def _address(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not _whole(port) or not 0 <= int(port) <= 65535:
        raise UsageError(f"--metrics-addr takes HOST:PORT, not {value!r}")
    if host.startswith("[") and host.endswith("]"):
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise UsageError(f"--metrics-addr {value!r}: {host} is no IPv6 address") from None
    elif ":" in host or "[" in host or "]" in host:
        raise UsageError(
            f"--metrics-addr takes HOST:PORT, an IPv6 address in brackets ([::1]:2112), "
            f"not {value!r}"
        )
    # An empty host listens on every interface, as ":2112" does for the original.
    return host or "0.0.0.0", int(port)
