"""gitops-compose: keep this Docker host's Compose stacks in step with a git repository.

Usage:
  gitops.pyz [options]
  gitops.pyz -h | --help
  gitops.pyz --version

Options:
  --repo PATH                 The host's clone of the repository [default: .].
  --remote NAME               The remote to follow [default: origin].
  --branch NAME               The branch to follow (default: the branch HEAD is on).
  --interval SECONDS          Seconds between two checks [default: 60].
  --once                      Run one check and exit: 0 if all went well, 1 if not.
  --self-heal                 Start stacks that are not running on every check, not only
                              when the remote changed.
  --metrics-addr HOST:PORT    Serve /metrics and /status there [default: 127.0.0.1:2112].
  --no-metrics                Serve no HTTP at all.
  --compose-timeout SECONDS   Longest a single docker compose call may take [default: 600].
  --ssh-key PATH              Private key for an SSH remote (default: ssh-agent).
  --log-format FORMAT         text or json [default: text].
  -v --verbose                Log more.
  -h --help                   Show this text.
  --version                   Show the version.

Exit codes: 0 success; 1 a check or a stack operation failed; 2 bad input or environment.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import final

from docopt import DocoptExit, docopt
from returns.result import Failure, Result, Success

from gitops_compose import __version__
from gitops_compose.shell import log
from gitops_compose.shell.check import Memory, Settings, run_check, status_document
from gitops_compose.shell.compose_host import ComposeHost, docker_problem
from gitops_compose.shell.git_repository import GitRepository, open_repository
from gitops_compose.shell.metrics import Metrics, serve

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@final
@dataclass(frozen=True, slots=True)
class Options:
    repo: Path
    remote: str
    branch: str | None
    interval: float
    once: bool
    self_heal: bool
    metrics_addr: tuple[str, int] | None
    compose_timeout: float
    ssh_key: Path | None
    log_format: str
    verbose: bool


class UsageError(Exception):
    """Bad input: one line on stderr and exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(sys.argv[1:] if argv is None else list(argv))
        if options is None:
            return EXIT_OK
        return run(options)
    except UsageError as error:
        print(f"gitops-compose: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def parse_options(argv: list[str]) -> Options | None:
    """The options, or None when --help or --version was answered."""
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return None
    if "--version" in argv:
        print(f"gitops-compose {__version__}")
        return None
    try:
        given = docopt(__doc__, argv, default_help=False)
    except DocoptExit:
        raise UsageError(
            f"unknown option or bad arguments in {' '.join(argv)!r}; see --help"
        ) from None
    log_format = str(given["--log-format"])
    if log_format not in {"text", "json"}:
        raise UsageError(f"--log-format must be text or json, not {log_format!r}")
    ssh_key = Path(given["--ssh-key"]) if given["--ssh-key"] else None
    if ssh_key is not None and not ssh_key.is_file():
        raise UsageError(f"--ssh-key {ssh_key}: no such file")
    return Options(
        repo=Path(str(given["--repo"])),
        remote=str(given["--remote"]),
        branch=str(given["--branch"]) if given["--branch"] else None,
        interval=_seconds("--interval", given["--interval"]),
        once=bool(given["--once"]),
        self_heal=bool(given["--self-heal"]),
        metrics_addr=None if given["--no-metrics"] else _address(str(given["--metrics-addr"])),
        compose_timeout=_seconds("--compose-timeout", given["--compose-timeout"]),
        ssh_key=ssh_key,
        log_format=log_format,
        verbose=bool(given["--verbose"]),
    )


def _seconds(option: str, value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise UsageError(f"{option} takes a number of seconds, not {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError(f"{option} must be more than 0 seconds, not {value!r}")
    return seconds


def _address(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--metrics-addr takes HOST:PORT, not {value!r}")
    # An empty host listens on every interface, as ":2112" does for the original.
    return host.strip("[]") or "0.0.0.0", int(port)


def open_clone(options: Options) -> Result[GitRepository, str]:
    opened = open_repository(options.repo)
    if isinstance(opened, Failure):
        return Failure(opened.failure())
    repository = opened.unwrap()
    branch = options.branch
    if branch is None:
        if repository.head_is_detached or repository.head_is_unborn:
            return Failure(f"{options.repo}: HEAD is on no branch; pass --branch")
        branch = repository.head.shorthand
    return Success(GitRepository(repository, options.remote, branch, options.ssh_key))


def run(options: Options) -> int:
    log.configure(options.log_format, options.verbose)
    opened = open_clone(options)
    if isinstance(opened, Failure):
        raise UsageError(opened.failure())
    repository = opened.unwrap()
    problem = docker_problem("docker")
    if problem is not None:
        raise UsageError(problem)
    host = ComposeHost("docker", repository.workdir, options.compose_timeout)
    settings = Settings(branch=repository.branch, self_heal=options.self_heal)
    memory = Memory()
    metrics = Metrics()
    if options.once:
        report = run_check(repository, host, memory, settings)
        metrics.record_check(report.ok, time.time(), report.tally)
        return EXIT_OK if report.ok else EXIT_FAILED
    if options.metrics_addr is not None:
        address, port = options.metrics_addr
        try:
            serve(address, port, metrics, lambda: status_document(memory))
        except OSError as error:
            raise UsageError(
                f"cannot serve metrics on {address}:{port}: {error.strerror or error}; "
                "pass another --metrics-addr or --no-metrics"
            ) from None
    stop = _stop_on_signals()
    log.event(
        "started", repo=str(repository.workdir), branch=settings.branch, interval=options.interval
    )
    while not stop.is_set():
        # A check runs to its end even when a signal arrives: stopping half-way could leave
        # a fast-forwarded tree whose changes were never deployed.
        report = run_check(repository, host, memory, settings)
        metrics.record_check(report.ok, time.time(), report.tally)
        stop.wait(options.interval)
    log.event("stopped")
    return EXIT_OK


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        log.event("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
