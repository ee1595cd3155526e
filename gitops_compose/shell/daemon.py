"""The daemon: checks every interval and when asked (webhook, sync), with its HTTP side.

A run without ``--once`` comes here from deploy, through the seam (shell/features): the
sync socket, the metrics, the status page, /health and the webhook are a daemon's alone,
so a single check loads none of them.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitops_compose.core.reconcile.health import HealthReport, Liveness, health, health_document
from gitops_compose.core.reconcile.state import within
from gitops_compose.core.value import replace
from gitops_compose.shell import log
from gitops_compose.shell.deploy import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Job,
    UsageError,
)
from gitops_compose.shell.metrics import StateMetrics, serve
from gitops_compose.shell.state_file import Busy, load_state
from gitops_compose.shell.status_page import PageFacts, StatusPage
from gitops_compose.shell.sync import AnotherDaemon, SyncServer
from gitops_compose.shell.webhook import Webhook

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.shell.due import Due
    from gitops_compose.shell.git_repository import GitRepository
    from gitops_compose.shell.history_reporter import HistoryReporter


def run_daemon(job: Job, due: Due) -> int:
    """Checks until a signal, one per state directory (its sync socket says so)."""
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
