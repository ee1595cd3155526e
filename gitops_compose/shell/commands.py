"""The commands behind the CLI: deploy, plan and status, from parsed options."""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from docopt import DocoptExit
from returns.result import Failure

from gitops_compose.core.compose.scope import Scope, scope_of
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.core.reconcile.looking import heads_of
from gitops_compose.core.reconcile.state import within
from gitops_compose.core.value import replace
from gitops_compose.shell import log
from gitops_compose.shell.check import clone_of
from gitops_compose.shell.deploy import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Options,
    UsageError,
    deploy,
    open_clone,
    planned,
    readable_state_dir,
    require_docker,
    usable_paths,
)
from gitops_compose.shell.environment import LOG_LEVELS, BadVariable, with_environment
from gitops_compose.shell.git_repository import GitRepository, name_problem
from gitops_compose.shell.sops import Sops

if TYPE_CHECKING:
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.shell.commit_statuses import ForgeOptions
    from gitops_compose.shell.notifier import NotifySettings

from gitops_compose.shell.state_file import (
    Busy,
    check_lock,
    load_state,
    read_state,
    save_state,
)
from gitops_compose.shell.sync import NoDaemon, request_check
from gitops_compose.shell.usage import parse_command_line


def run(argv: list[str], usage: str) -> int:
    try:
        command, options = parse_options(argv, usage)
        log.configure(options.log_format, options.log_level)
        if command == "sync":
            return sync(options)
        if command == "status":
            return print_status(options)
        if command == "plan":
            return print_plan(options)
        if command == "accept-remote":
            return accept_remote(options)
        if command == "notify-test":
            from gitops_compose.shell.notifier import notify_test  # noqa: PLC0415

            if options.notify is None:
                raise UsageError(
                    "notify-test: no target; pass --notify URL or set GITOPS_NOTIFY_URLS"
                )
            return notify_test(options.notify)
        if command == "retry":
            return retry(options, options.stack or "")
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
    name = _host_name(given)
    # Loaded only with a target: a check without notifications needs none of it.
    from gitops_compose.core.reconcile.notice import NotifyOn  # noqa: PLC0415
    from gitops_compose.shell.notifier import NotifySettings, target_name  # noqa: PLC0415

    for url in urls:
        scheme, sep, _ = url.partition("://")
        if not sep or not scheme.replace("+", "").isalnum():
            shown = target_name(url)
            raise UsageError(f"--notify takes an Apprise URL (scheme://...), not {shown!r}")
    return NotifySettings(tuple(urls), NotifyOn(on_text), timeout, name)


def _host_name(given: Mapping[str, object]) -> str:
    """This host's name in notifications and commit statuses: --name, or the hostname."""
    import socket  # noqa: PLC0415 - only with notifications or commit statuses

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
    # Loaded only with --commit-status.
    from gitops_compose.core.reconcile.forge import (  # noqa: PLC0415
        FORGES,
        Forge,
        api_problem,
        repository_problem,
    )
    from gitops_compose.shell.commit_statuses import ForgeOptions  # noqa: PLC0415

    text = str(chosen).strip().lower()
    if text not in FORGES:
        raise UsageError(f"--commit-status must be github, gitea or gitlab, not {str(chosen)!r}")
    forge = Forge(text)
    api = str(given["--forge-url"]).strip().rstrip("/") if given["--forge-url"] else None
    if api is not None:
        problem = api_problem(api)
        if problem is not None:
            raise UsageError(problem)
    repository = str(given["--forge-repo"]).strip().strip("/") if given["--forge-repo"] else None
    if repository is not None:
        problem = repository_problem(forge, repository)
        if problem is not None:
            raise UsageError(problem)
    return ForgeOptions(
        forge=forge,
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


def _secrets_tried(repository: GitRepository, plan: Plan, sops: Sops) -> Plan:
    """The plan with each stack's secret files decrypted by sops, in memory and dropped:
    the first that fails, and why, for each stack that has one."""
    tried = []
    snapshots: dict[str, Snapshot] = {}
    for each in plan.secrets:
        if each.commit not in snapshots:
            snapshots[each.commit] = repository.snapshot(each.commit)
        blobs = snapshots[each.commit].blobs
        error = None
        for file in each.files:
            raw = repository.blobs([blobs[file.path]]).get(blobs[file.path], b"")
            error = sops.decrypts(raw, file)
            if error is not None:
                break
        tried.append(replace(each, tried=True, error=error))
    return replace(plan, secrets=tuple(tried))


def print_plan(options: Options) -> int:
    repository = open_clone(options)
    require_docker(options.engine)
    found = planned(repository, options)
    if isinstance(found, Failure):
        print(f"gitops-compose: {found.failure().reason}", file=sys.stderr)
        return EXIT_USAGE
    the_plan = found.unwrap()
    if options.secrets:
        the_plan = _secrets_tried(repository, the_plan, Sops(options.sops_age_key_file))
    from gitops_compose.core.reconcile.report import (  # noqa: PLC0415
        image_lines,
        plan_document,
        plan_lines,
    )

    if options.output_format == "json":
        print(json.dumps(plan_document(the_plan, repository.branch), indent=2))
    else:
        print("\n".join(plan_lines(the_plan, repository.branch)))
        if options.images.now:
            print("\n".join(image_lines(the_plan)))
    return EXIT_OK if the_plan.in_sync else EXIT_FAILED


def retry(options: Options, stack: str) -> int:
    """Marks a stack due for a try: the next check (the daemon's, or a --once) tries it."""
    # The transition table is for checks that act, and this command: not for an idle check.
    from gitops_compose.core.reconcile.transition import retried  # noqa: PLC0415

    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    usable_paths(options, state_dir)
    with check_lock(state_dir):
        state, warning = load_state(state_dir, set_aside=False)
        if warning is not None:
            raise UsageError(warning)
        changed = retried(state, stack.strip("/") or ".")
        if isinstance(changed, Failure):
            raise UsageError(changed.failure())
        save_state(state_dir, changed.unwrap())
    print(f"{stack} is tried again by the next check")
    return EXIT_OK


def accept_remote(options: Options) -> int:
    """The recovery after a force push, as a command: the clone moves to the remote head
    the way a check would fast-forward it (a safe checkout, never over local work), but
    from any commit. Under the check lock, so no check runs meanwhile."""
    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    usable_paths(options, state_dir)
    with check_lock(state_dir):
        found = heads_of(clone_of(repository))
        # Refused before any head was known: HEAD off the branch, a dirty tree, no fetch.
        # (A check would refuse a rewritten history too: that is what this accepts.)
        if isinstance(found, Failure):
            print(
                f"gitops-compose: accept-remote refused: {found.failure().reason}", file=sys.stderr
            )
            return EXIT_FAILED
        heads = found.unwrap()
        branch = repository.branch
        if heads.local == heads.remote:
            print(f"{branch} is at the remote head {heads.remote[:12]} already")
            return EXIT_OK
        moved = repository.fast_forward(heads.remote)
        if isinstance(moved, Failure):
            print(f"gitops-compose: accept-remote failed: {moved.failure()}", file=sys.stderr)
            return EXIT_FAILED
    how = "fast-forward" if heads.remote_descends else "history rewritten"
    print(
        f"moved {branch} from {heads.local[:12]} to {heads.remote[:12]} ({how}); the next "
        "check restarts what changed and stops, by project name, what the new history "
        "no longer has"
    )
    return EXIT_OK


def print_status(options: Options) -> int:
    """Reads the saved state only: no fetch, no Docker, no lock, nothing written."""
    repository = open_clone(options)
    readable_state_dir(options.state_directory(repository))
    directory = options.state_directory(repository)
    read = read_state(directory)
    if isinstance(read, Failure):
        unusable = read.failure()
        if unusable.unreadable:
            raise UsageError(f"state file {unusable.path}: {unusable.why}")
        raise UsageError(f"state file {unusable.path} is unusable: {unusable.why}")
    # Only this host's stacks, even before a check has forgotten the others.
    state = within(read.unwrap(), options.scope)
    from gitops_compose.core.reconcile.report import status_document, status_lines  # noqa: PLC0415

    if options.output_format == "json":
        print(json.dumps(status_document(state), indent=2))
    elif not state.stacks and state.counters.last_check == 0:
        print(f"no check has run yet (no state in {directory})")
    else:
        print("\n".join(status_lines(state)))
    return EXIT_OK


def sync(options: Options) -> int:
    """Ask the daemon of the state directory for a check, over its socket there."""
    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    readable_state_dir(state_dir)
    try:
        code = request_check(state_dir, wait=options.wait, said=print)
    except NoDaemon as none:
        raise UsageError(f"{none}; start one, or run a check with --once") from None
    except OSError as error:
        raise UsageError(f"sync: {error.strerror or error}") from None
    if code is None:
        return EXIT_OK
    outcome = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_BUSY: "busy"}.get(code, "error")
    print(f"check {outcome}; the daemon's log says more")
    return code
