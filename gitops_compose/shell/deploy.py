"""The main job: checks under the state directory's lock, once or every interval.

Each check loads the state, runs, and saves it, so a daemon and ``--once`` runs from cron
share one history, and metrics and ``/status`` always show what was saved.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import final

from returns.result import Failure, Result

from gitops_compose.core.plan import CheckFailure, Plan, plan
from gitops_compose.core.report import status_document
from gitops_compose.core.state import State
from gitops_compose.shell import log
from gitops_compose.shell.check import CheckReport, Settings, prepare, run_check
from gitops_compose.shell.compose_host import ComposeHost, docker_problem
from gitops_compose.shell.git_repository import GitRepository, open_repository
from gitops_compose.shell.metrics import StateMetrics, serve
from gitops_compose.shell.state_file import Busy, check_lock, load_state, save_state

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3
DOCKER = "docker"


class UsageError(Exception):
    """Bad input or environment: one line on stderr and exit 2."""


@final
@dataclass(frozen=True, slots=True)
class Options:
    repo: Path
    remote: str
    branch: str | None
    interval: float
    once: bool
    self_heal: bool
    state_dir: Path | None
    metrics_addr: tuple[str, int] | None
    metrics_file: Path | None
    compose_timeout: float
    ssh_key: Path | None
    output_format: str
    log_format: str
    verbose: bool

    def state_directory(self, repository: GitRepository) -> Path:
        return self.state_dir or repository.git_dir / "gitops-compose"


def open_clone(options: Options) -> GitRepository:
    opened = open_repository(options.repo)
    if isinstance(opened, Failure):
        raise UsageError(opened.failure())
    repository = opened.unwrap()
    branch = options.branch
    if branch is None:
        if repository.head_is_detached or repository.head_is_unborn:
            raise UsageError(f"{options.repo}: HEAD is on no branch; pass --branch")
        branch = repository.head.shorthand
    return GitRepository(repository, options.remote, branch, options.ssh_key)


def require_docker() -> None:
    problem = docker_problem(DOCKER)
    if problem is not None:
        raise UsageError(problem)


def planned(repository: GitRepository, options: Options) -> Result[Plan, CheckFailure]:
    """What the next check would do, from a fetch, the state and the host; writes nothing."""
    state, warning = load_state(options.state_directory(repository), set_aside=False)
    if warning is not None:
        log.event("state", logging.WARNING, warning=warning)
    host = ComposeHost(DOCKER, repository.workdir, options.compose_timeout)
    settings = Settings(branch=repository.branch, self_heal=options.self_heal)
    prepared = prepare(repository, host, state, settings, time.time(), always=True)
    if isinstance(prepared, Failure):
        return prepared
    _, facts = prepared.unwrap()
    assert facts is not None  # always=True gathers them
    return plan(facts)


@final
@dataclass(frozen=True, slots=True)
class Job:
    """Everything a check needs, set up once per process."""

    repository: GitRepository
    host: ComposeHost
    settings: Settings
    state_dir: Path
    options: Options

    def check(self, metrics: StateMetrics, *, full_pass: bool = False) -> CheckReport:
        """One check under the lock; raises Busy at once when another holds it."""
        with check_lock(self.state_dir):
            state, warning = load_state(self.state_dir)
            if warning is not None:
                log.event("state", logging.WARNING, warning=warning)
            if full_pass:
                state = replace(state, full_pass_done=False)
            report = run_check(self.repository, self.host, state, self.settings)
            save_state(self.state_dir, report.state)
        metrics.state = report.state
        if self.options.metrics_file is not None:
            metrics.write_textfile(self.options.metrics_file)
        return report


def deploy(options: Options) -> int:
    repository = open_clone(options)
    require_docker()
    job = Job(
        repository=repository,
        host=ComposeHost(DOCKER, repository.workdir, options.compose_timeout),
        settings=Settings(branch=repository.branch, self_heal=options.self_heal),
        state_dir=options.state_directory(repository),
        options=options,
    )
    if options.once:
        # The check loads the state itself, under the lock.
        metrics = StateMetrics(State())
        # No HTTP for a single check: the process is gone before a scrape could come.
        return EXIT_OK if job.check(metrics).ok else EXIT_FAILED
    # /status and /metrics show the saved state until the first check is done.
    metrics = StateMetrics(load_state(job.state_dir, set_aside=False)[0])
    if options.metrics_addr is not None:
        address, port = options.metrics_addr
        try:
            serve(address, port, metrics, lambda: status_document(metrics.state))
        except OSError as error:
            raise UsageError(
                f"cannot serve metrics on {address}:{port}: {error.strerror or error}; "
                "pass another --metrics-addr or --no-metrics"
            ) from None
    stop = _stop_on_signals()
    log.event(
        "started",
        repo=str(repository.workdir),
        branch=job.settings.branch,
        interval=options.interval,
        state=str(job.state_dir),
    )
    # A daemon's first check is a full pass: after a reboot or an upgrade, whatever should
    # run and does not is started. Runs of --once follow the state: one full pass, ever.
    full_pass = True
    while not stop.is_set():
        # A check runs to its end even when a signal arrives: stopping half-way could leave
        # a fast-forwarded tree whose changes were never deployed.
        try:
            report = job.check(metrics, full_pass=full_pass)
            full_pass = full_pass and not report.state.full_pass_done
        except Busy as busy:
            log.event("skipped", logging.WARNING, reason=str(busy))
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
