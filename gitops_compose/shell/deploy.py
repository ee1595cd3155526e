"""The main job: checks under the state directory's lock, once or every interval.

Each check loads the state, runs, and saves it, so a daemon and ``--once`` runs from cron
share one history, and metrics and ``/status`` always show what was saved: the metrics
hear the check as a reporter (metrics_reporter) and show its state once it is saved.
A single check (``--once``) runs here; the daemon's loop and its HTTP side are in daemon,
entered through the seam (features).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result

from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.core.value import Value, field_names, replace
from gitops_compose.core.value import field as value_field
from gitops_compose.shell import features, log
from gitops_compose.shell.check import ComposeUnavailable, plan_now, run_check
from gitops_compose.shell.compose_host import ComposeHost, compose_environment, docker_missing
from gitops_compose.shell.due import Due
from gitops_compose.shell.environment_key import environment_key, keyed
from gitops_compose.shell.features import SecretFiles
from gitops_compose.shell.git_repository import GitRepository, open_repository
from gitops_compose.shell.history_reporter import HistoryReporter
from gitops_compose.shell.log_reporter import LogReporter
from gitops_compose.shell.metrics_reporter import MetricsReporter
from gitops_compose.shell.plaintext import PlaintextDirectory, plaintext_root
from gitops_compose.shell.state_file import check_lock, load_state, save_state
from gitops_compose.shell.yaml_parser import parse_cache

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from gitops_compose.core.reconcile.image_update import ImageTag
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.shell.commit_statuses import CommitStatuses, ForgeOptions
    from gitops_compose.shell.metrics import StateMetrics
    from gitops_compose.shell.notifier import Notifier, NotifySettings
    from gitops_compose.shell.registry import RegistryClient
    from gitops_compose.shell.swarm_host import SwarmHost

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3
DOCKER = "docker"


class UsageError(Exception):
    """Bad input or environment: one line on stderr and exit 2."""


@final
class Options(Value):
    repo: Path
    remote: str
    branch: str | None
    # None: no polling; checks come from webhooks and sync only.
    interval: float | None
    once: bool
    self_heal: bool
    state_dir: Path | None
    metrics_addr: tuple[str, int] | None
    metrics_file: Path | None
    compose_timeout: float
    jobs: int
    # The health gate: 0 turns it off.
    health_timeout: float
    settle: float
    rollback: bool
    # The STACK of ``retry``.
    stack: str | None
    ssh_key: Path | None
    output_format: str
    log_format: str
    log_level: int
    # sync: wait for the check.
    wait: bool = False
    # Following image updates of mutable tags (plan --images sets ``now``).
    images: ImageSettings = value_field(default_factory=ImageSettings)
    # The shared secret of /webhook; None: no webhook.
    webhook_secret: bytes | None = None
    # Notification targets and how; None: no notifications.
    notify: NotifySettings | None = None
    # The age key for sops (None: what sops finds itself), and plan --secrets.
    sops_age_key_file: Path | None = None
    secrets: bool = False
    # The subtrees whose stacks this host manages (--path, GITOPS_PATH).
    scope: Scope = EVERYWHERE
    # The forge that deploys' results go to, as commit statuses; None: not posted.
    forge: ForgeOptions | None = None
    # What runs the stacks: Compose on this engine, or its Swarm.
    engine: Engine = Engine.COMPOSE

    def state_directory(self, repository: GitRepository) -> Path:
        return self.state_dir or repository.git_dir / "gitops-compose"

    def __repr__(self) -> str:
        """Without the credentials: the webhook's secret, the notification targets (their
        URLs carry tokens) and the forge's token."""
        shown = [each for each in field_names(Options) if each not in _HIDDEN]
        return f"Options({', '.join(f'{each}={getattr(self, each)!r}' for each in shown)})"


_HIDDEN = frozenset({"webhook_secret", "notify", "forge"})


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
    return GitRepository(
        repository,
        options.remote,
        branch,
        options.ssh_key,
        parsing=parse_cache(),
        scope=options.scope,
    )


def require_docker(engine: Engine = Engine.COMPOSE) -> None:
    """A ``docker`` command to run, and a Swarm manager under ``--engine swarm``; Compose
    itself is asked for before its first command."""
    problem = docker_missing(DOCKER)
    if problem is None and engine is Engine.SWARM:
        problem = features.swarm_problem(DOCKER)
    if problem is not None:
        raise UsageError(problem)


def host_of(
    repository: GitRepository, options: Options, *, scratch: bool = True
) -> ComposeHost | SwarmHost:
    """The host protocol's implementation for the engine: Compose, or Swarm."""
    state_dir = options.state_directory(repository)
    rollback = state_dir / "rollback" if scratch else None
    if options.engine is Engine.SWARM:
        return features.swarm_host(
            DOCKER,
            repository.workdir,
            options.compose_timeout,
            rendered=state_dir / "swarm",
            converge_timeout=options.health_timeout,
            scratch=rollback,
        )
    if not scratch:
        return ComposeHost(DOCKER, repository.workdir, options.compose_timeout)
    return ComposeHost(
        DOCKER,
        repository.workdir,
        options.compose_timeout,
        scratch=rollback,
        secrets=SecretFiles(
            PlaintextDirectory(plaintext_root(state_dir)),
            options.sops_age_key_file,
            repository.parsing,
        ),
    )


def settings_of(
    repository: GitRepository, options: Options, *, always: bool = False, writes: bool = True
) -> CheckSettings:
    """A check's settings; ``writes`` false for one that writes nothing (``plan``)."""
    key = environment_key(options.state_directory(repository), make=writes)
    return CheckSettings(
        branch=repository.branch,
        root_name=repository.name,
        self_heal=options.self_heal,
        jobs=options.jobs,
        always=always,
        health_timeout=options.health_timeout,
        settle=options.settle,
        rollback=options.rollback,
        images=options.images,
        engine=options.engine,
        parsing=repository.parsing,
        clone=str(repository.workdir.absolute()),
        environment=keyed(compose_environment(), key),
        scope=options.scope,
    )


def planned(repository: GitRepository, options: Options) -> Result[Plan, CheckFailure]:
    """What the next check would do, from a fetch, the state and the host; writes nothing."""
    readable_state_dir(options.state_directory(repository))
    state, warning = load_state(options.state_directory(repository), set_aside=False)
    if warning is not None:
        log.event("state", logging.WARNING, warning=warning)
    host = host_of(repository, options, scratch=False)
    settings = settings_of(repository, options, always=True, writes=False)
    return plan_now(repository, host, state, settings, time.time(), registry=Registries())


@final
class Registries:
    """The registry client, made at the first image check (a check that asks no registry
    loads no HTTP client and reads no Docker credentials)."""

    def __init__(self) -> None:
        self._client: RegistryClient | None = None

    def digests(self, tags: Sequence[ImageTag]) -> Mapping[ImageTag, Result[str, str]]:
        if self._client is None:
            self._client = features.registry_client(DOCKER)
        return self._client.digests(tags)


@final
class Job(Value):
    """Everything a check needs, set up once per process."""

    repository: GitRepository
    host: ComposeHost | SwarmHost
    settings: CheckSettings
    state_dir: Path
    options: Options
    stop: threading.Event
    # Hears the check's events and sends notifications once it settled.
    notifier: Notifier | None = None
    # Hears the check's events and posts its result on the deployed commit.
    statuses: CommitStatuses | None = None
    # Asks registries about followed image tags; keeps their tokens between checks.
    registry: Registries = value_field(default_factory=lambda: Registries())  # noqa: PLW0108 (defined below)

    def check(self, metrics: StateMetrics | None, *, daemon_starting: bool = False) -> Checked:
        """One check under the lock; raises Busy at once when another holds it.

        A state or metrics file that cannot be written (a full disk, a read-only mount) is
        one error line, not an exception: the old state file stays as it was, so the next
        check plans again from it and acts on whatever this one did not get recorded.
        """
        with check_lock(self.state_dir):
            state, warning = load_state(self.state_dir)
            if warning is not None:
                log.event("state", logging.WARNING, warning=warning)
            settings = dataclasses.replace(self.settings, daemon_starting=daemon_starting)
            # The metrics hear the check like the log does, and show its state once saved.
            shown = MetricsReporter(metrics, self.options.metrics_file)
            # The history goes on from the saved one, so it outlives restarts and cron.
            heard = HistoryReporter(state.history)
            notifying = () if self.notifier is None else (self.notifier,)
            posting = () if self.statuses is None else (self.statuses,)
            try:
                report = run_check(
                    self.repository,
                    self.host,
                    state,
                    settings,
                    stopping=self.stop.is_set,
                    watch=self.host.container_events(),
                    reporters=(LogReporter(), heard, shown, *notifying, *posting),
                    registry=self.registry,
                )
            except ComposeUnavailable as problem:
                raise UsageError(str(problem)) from None
            report = replace(report, state=replace(report.state, history=heard.history))
            sending = None
            if self.notifier is not None:
                # Sent beside the next steps; the memory of what was told is saved now.
                told, sending = self.notifier.settled(report.state)
                report = replace(report, state=told)
            # Decrypted files of stacks no longer in the state are stale.
            self.host.forget_plaintext(
                {each.project for each in report.state.stacks.values() if each.project}
            )
            if not saved(self.state_dir, report):
                # Metrics show what was saved: counters never go back.
                return Checked(report, written=False, heard=heard, sending=sending)
        return Checked(report, written=shown.saved(report.state), heard=heard, sending=sending)


@final
class Checked(Value):
    """A check's report, and whether its state and metrics file were written."""

    report: CheckReport
    written: bool
    # What the check's events told the status page.
    heard: HistoryReporter | None = None
    # The notifications of the check on their way (they end within their timeout).
    sending: threading.Thread | None = None

    @property
    def ok(self) -> bool:
        """What ``--once`` exits 0 for: the check did all it had to, and it is on disk."""
        return self.report.ok and self.written


def saved(state_dir: Path, report: CheckReport) -> bool:
    """Whether the state the check settled with is saved; a state that cannot be written (a
    full disk, a read-only mount) is one error line: the old state file stays as it was, so
    the next check plans again from it and acts on whatever this one did not get recorded."""
    try:
        save_state(state_dir, report.state)
    except OSError as error:
        _not_written(
            "state",
            f"cannot save the state in {state_dir}",
            error,
            "the next check plans again from the state saved before",
        )
        return False
    return True


def _not_written(event: str, what: str, error: OSError, then: str) -> None:
    """One error line for a file a check could not write, and what happens next."""
    log.event(event, logging.ERROR, error=f"{what}: {error.strerror or error}; {then}")


def readable_state_dir(state_dir: Path) -> None:
    """No directory yet is a fresh start; a file where it should be is bad input."""
    if state_dir.exists() and not state_dir.is_dir():
        raise UsageError(f"state directory {state_dir} is a file, not a directory")


def usable_paths(options: Options, state_dir: Path) -> None:
    """The state directory and the metrics file can be written, checked before a check
    deploys anything: a bad path is one line and exit 2, not a failure after the fact."""
    readable_state_dir(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"state directory {state_dir}: {error.strerror or error}") from None
    if not state_dir.is_dir() or not os.access(state_dir, os.W_OK | os.X_OK):
        raise UsageError(f"state directory {state_dir} is not a writable directory")
    metrics_file = options.metrics_file
    if metrics_file is not None:
        if metrics_file.is_dir():
            raise UsageError(f"--metrics-file {metrics_file} is a directory; name a file")
        parent = metrics_file.parent
        if parent.exists() and not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
            raise UsageError(f"--metrics-file {metrics_file}: cannot write in {parent}")


def _key_file_private(key_file: Path | None) -> None:
    """One warning when the age key can be read by others than its owner."""
    if key_file is None:
        return
    try:
        mode = key_file.stat().st_mode
    except OSError:
        return  # said by sops, naming the file, when a stack needs it
    if mode & 0o077:
        log.event(
            "sops",
            logging.WARNING,
            warning=f"the age key {key_file} can be read by other users than its owner "
            f"(mode {mode & 0o777:o}); chmod 600 it",
        )


def deploy(options: Options) -> int:
    repository = open_clone(options)
    statuses = _commit_statuses(options.forge, repository)
    require_docker(options.engine)
    usable_paths(options, options.state_directory(repository))
    _key_file_private(options.sops_age_key_file)
    due = Due()
    job = Job(
        repository=repository,
        host=host_of(repository, options),
        settings=settings_of(repository, options),
        state_dir=options.state_directory(repository),
        options=options,
        stop=_stop_on_signals(due),
        notifier=_notifier(options.notify),
        statuses=statuses,
    )
    if options.once:
        # The check loads the state itself, under the lock. No HTTP for a single check:
        # the process is gone before a scrape could come.
        checked = job.check(None)
        # The exit code is the check's, whatever the notifications and the forge did; what
        # they still send is waited for at most their timeout, side by side. The
        # notifications' thread ends by itself: Apprise loaded (local work, not a target's),
        # then at most the timeout for the targets (Notifier.deliver).
        began = time.monotonic()
        if checked.sending is not None:
            checked.sending.join()
        if job.statuses is not None:
            spent = time.monotonic() - began
            job.statuses.wait(max(0.0, job.statuses.settings.timeout - spent))
        return EXIT_OK if checked.ok else EXIT_FAILED
    return features.daemon(job, due)


def _notifier(settings: NotifySettings | None) -> Notifier | None:
    return None if settings is None else features.notifier(settings)


def _commit_statuses(
    forge: ForgeOptions | None, repository: GitRepository
) -> CommitStatuses | None:
    """The poster of commit statuses (see commit_statuses.poster); bad input is one line
    and exit 2."""
    if forge is None:
        return None
    found = features.commit_statuses(forge, repository.remote, repository.remote_url())
    if isinstance(found, Failure):
        raise UsageError(found.failure())
    return found.unwrap()


def _stop_on_signals(due: Due) -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        log.event("stopping", signal=signal.Signals(signum).name)
        stop.set()
        due.ring("signal")  # ends the wait between checks

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
