"""The main job: checks under the state directory's lock, once or every interval.

Each check loads the state, runs, and saves it, so a daemon and ``--once`` runs from cron
share one history, and metrics and ``/status`` always show what was saved: the metrics
hear the check as a reporter (metrics_reporter) and show its state once it is saved.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result

from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.core.reconcile.state import within
from gitops_compose.core.value import Value, replace
from gitops_compose.core.value import field as value_field
from gitops_compose.shell import log
from gitops_compose.shell.check import ComposeUnavailable, plan_now, run_check
from gitops_compose.shell.compose_host import ComposeHost, compose_environment, docker_missing
from gitops_compose.shell.due import Due
from gitops_compose.shell.environment_key import environment_key, keyed
from gitops_compose.shell.git_repository import GitRepository, open_repository
from gitops_compose.shell.history_reporter import HistoryReporter
from gitops_compose.shell.log_reporter import LogReporter
from gitops_compose.shell.metrics_reporter import MetricsReporter
from gitops_compose.shell.plaintext import PlaintextDirectory, plaintext_root
from gitops_compose.shell.sops import Sops
from gitops_compose.shell.state_file import Busy, check_lock, load_state, save_state
from gitops_compose.shell.status_page import PageFacts, StatusPage
from gitops_compose.shell.swarm_host import SwarmHost, swarm_problem
from gitops_compose.shell.sync import AnotherDaemon, SyncServer
from gitops_compose.shell.yaml_parser import parse_cache

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from gitops_compose.core.reconcile.health import HealthReport
    from gitops_compose.core.reconcile.image_update import ImageTag
    from gitops_compose.core.reconcile.plan import Plan
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.shell.commit_statuses import CommitStatuses, ForgeOptions
    from gitops_compose.shell.metrics import StateMetrics
    from gitops_compose.shell.notifier import Notifier, NotifySettings
    from gitops_compose.shell.registry import RegistryClient

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
    images: ImageSettings = field(default_factory=ImageSettings)
    # The shared secret of /webhook; None: no webhook.
    webhook_secret: bytes | None = field(default=None, repr=False)
    # Notification targets and how; None: no notifications.
    notify: NotifySettings | None = field(default=None, repr=False)
    # The age key for sops (None: what sops finds itself), and plan --secrets.
    sops_age_key_file: Path | None = None
    secrets: bool = False
    # The subtrees whose stacks this host manages (--path, GITOPS_PATH).
    scope: Scope = EVERYWHERE
    # The forge that deploys' results go to, as commit statuses; None: not posted.
    forge: ForgeOptions | None = field(default=None, repr=False)
    # What runs the stacks: Compose on this engine, or its Swarm.
    engine: Engine = Engine.COMPOSE

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
        problem = swarm_problem(DOCKER)
    if problem is not None:
        raise UsageError(problem)


def host_of(
    repository: GitRepository, options: Options, *, scratch: bool = True
) -> ComposeHost | SwarmHost:
    """The host protocol's implementation for the engine: Compose, or Swarm."""
    state_dir = options.state_directory(repository)
    rollback = state_dir / "rollback" if scratch else None
    if options.engine is Engine.SWARM:
        return SwarmHost(
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
        plaintext=PlaintextDirectory(plaintext_root(state_dir)),
        sops=Sops(options.sops_age_key_file),
        parsing=repository.parsing,
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
            from gitops_compose.shell.registry import (  # noqa: PLC0415
                RegistryClient,
                insecure_of_engine,
            )
            from gitops_compose.shell.registry_credentials import Credentials  # noqa: PLC0415

            insecure = insecure_of_engine(DOCKER)
            self._client = RegistryClient(Credentials.of_host(), insecure=insecure)
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
        # they still send is waited for at most their timeout, side by side.
        began = time.monotonic()
        if checked.sending is not None and options.notify is not None:
            checked.sending.join(options.notify.timeout + 1)
        if job.statuses is not None:
            spent = time.monotonic() - began
            job.statuses.wait(max(0.0, job.statuses.settings.timeout - spent))
        return EXIT_OK if checked.ok else EXIT_FAILED
    try:
        sync = SyncServer(job.state_dir, due)
    except AnotherDaemon as another:
        raise UsageError(f"{another}; one daemon per state directory") from None
    except OSError as error:
        raise UsageError(
            f"cannot listen for sync in {job.state_dir}: {error.strerror or error}"
        ) from None
    try:
        return _daemon(job, due)
    finally:
        sync.close()
        for ticket in due.take()[0]:
            ticket.answer(None)


def _notifier(settings: NotifySettings | None) -> Notifier | None:
    if settings is None:
        return None
    # Loaded only with a target: a check without notifications needs none of it.
    from gitops_compose.shell.notifier import Notifier  # noqa: PLC0415

    return Notifier(settings)


def _commit_statuses(
    forge: ForgeOptions | None, repository: GitRepository
) -> CommitStatuses | None:
    """The poster of commit statuses, its forge's API and repository worked out from the
    remote's URL where the options leave them; bad input is one line and exit 2."""
    if forge is None:
        return None
    # Loaded only with --commit-status.
    from gitops_compose.core.reconcile.forge import target_of  # noqa: PLC0415
    from gitops_compose.shell.commit_statuses import (  # noqa: PLC0415
        CommitStatuses,
        StatusSettings,
    )

    found = target_of(forge.forge, repository.remote_url(), forge.api, forge.repository)
    if isinstance(found, Failure):
        raise UsageError(
            f"--commit-status {forge.forge.value}: remote {repository.remote}: {found.failure()}"
        )
    target = found.unwrap()
    log.event(
        "commit-status",
        logging.DEBUG,
        forge=forge.forge.value,
        api=target.api,
        repository=target.repository,
    )
    return CommitStatuses(StatusSettings(target, forge.token, forge.name, forge.timeout))


def _served_metrics(job: Job, metrics: StateMetrics) -> StateMetrics:
    """The daemon's metrics, with the counters of notifications and commit statuses when
    they are sent."""
    if job.notifier is not None:
        metrics.live.register(job.notifier)
    if job.statuses is not None:
        metrics.live.register(job.statuses)
    return metrics


def _saved_state(job: Job) -> State:
    """The saved state of this host's stacks, before a check has forgotten the others."""
    return within(load_state(job.state_dir, set_aside=False)[0], job.options.scope)


def _daemon(job: Job, due: Due) -> int:
    # Only loaded by a daemon: --once needs no metrics or health code.
    from gitops_compose.core.reconcile.health import Liveness, health, health_document  # noqa: PLC0415
    from gitops_compose.shell.metrics import StateMetrics, serve  # noqa: PLC0415

    options, repository = job.options, job.repository
    # /status and /metrics show the saved state until the first check is done.
    metrics = _served_metrics(job, StateMetrics(_saved_state(job)))
    liveness = Liveness(started=time.time())

    def healthy() -> tuple[bool, bytes]:
        counters = metrics.state.counters
        found = health(liveness, counters, options.interval, time.time())
        document = health_document(found, liveness, counters, options.interval)
        return found.ok, json.dumps(document).encode() + b"\n"

    page = _status_page(
        job,
        metrics,
        lambda: health(liveness, metrics.state.counters, options.interval, time.time()),
    )

    if options.metrics_addr is not None:
        webhook = None
        if options.webhook_secret is not None:
            from gitops_compose.shell.webhook import Webhook  # noqa: PLC0415

            webhook = Webhook(options.webhook_secret, job.settings.branch, due)
            metrics.live.register(webhook)
        address, port = options.metrics_addr
        try:
            serve(address, port, metrics, webhook=webhook, health=healthy, page=page)
        except OSError as error:
            raise UsageError(
                f"cannot serve metrics on {address}:{port}: {error.strerror or error}; "
                "pass another --metrics-addr or --no-metrics"
            ) from None
    stop = job.stop
    log.event(
        "started",
        repo=str(repository.workdir),
        branch=job.settings.branch,
        interval="webhook only" if options.interval is None else options.interval,
        state=str(job.state_dir),
        webhook="off" if options.webhook_secret is None or options.metrics_addr is None else "on",
    )
    # Until one of its checks did all it had to and was saved (see core/reconcile/full_pass).
    starting = True
    while not stop.is_set():
        # What asked for a check so far (hooks, sync) is answered by this one; what asks
        # while it runs makes one more, right after it. Checks never overlap.
        tickets, asked = due.take()
        if asked:
            log.event("due", logging.DEBUG, **asked)
        code: int | None = None
        # A signal lets the running actions finish and starts no new one; the next check,
        # of this process or the next, finishes what is left (see core/check).
        try:
            checked = job.check(metrics, daemon_starting=starting)
            code = EXIT_OK if checked.ok else EXIT_FAILED
            failure = checked.report.failure
            liveness = replace(
                liveness,
                last_ended=time.time(),
                last_failure=failure.reason if failure is not None else None,
            )
            page.facts = _page_facts(page.facts, checked.report.state, repository, checked.heard)
            if checked.written:
                starting = starting and not checked.report.state.full_pass_done
        except Busy as busy:
            code = EXIT_BUSY
            log.event("skipped", logging.WARNING, reason=str(busy))
        except UsageError:
            code = EXIT_USAGE
            raise
        finally:
            for ticket in tickets:
                ticket.answer(code)
        if not stop.is_set():
            due.wait(options.interval)
    log.event("stopped")
    return EXIT_OK


def _status_page(job: Job, metrics: StateMetrics, health: Callable[[], HealthReport]) -> StatusPage:
    facts = PageFacts(
        host=socket.gethostname(),
        followed=job.repository.followed(),
        branch=job.settings.branch,
        interval=job.options.interval,
    )
    return StatusPage(
        lambda: metrics.state, _page_facts(facts, metrics.state, job.repository, None), health
    )


def _page_facts(
    facts: PageFacts, state: State, repository: GitRepository, heard: HistoryReporter | None
) -> PageFacts:
    """The page's facts after a check: its outcome, and the subject line of each commit
    the page shows, read now (from the clone) so that no request reads git."""
    commits = {state.desired_commit, state.settled_commit}
    commits.update(record.commit for record in state.stacks.values())
    commits.update(entry.commit for entry in state.history)
    subjects = {}
    for commit in sorted(each for each in commits if each is not None):
        subject = facts.subjects.get(commit) or repository.subject(commit)
        if subject is not None:
            subjects[commit] = subject
    if heard is None:
        return replace(facts, subjects=subjects)
    return replace(
        facts,
        subjects=subjects,
        last_check=heard.last_check or facts.last_check,
        waits_for={**facts.waits_for, **heard.waits_for},
    )


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
