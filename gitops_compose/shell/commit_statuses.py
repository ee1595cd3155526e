"""Each deploy's result on its commit, posted to the forge: a reporter of a check's events.

The core decides what to post, and when (core/reconcile/commit_status.heard, a fold over
the events), and what the request is (core/reconcile/forge.status_request); this module
posts it over HTTPS with the standard library, on a thread of its own, one status after
another so ``pending`` comes before the result. Posting never fails, slows or blocks a
check: each request has a timeout (``--notify-timeout``), a status that cannot be posted is
one log line and a count in ``gitops_commit_statuses_total{result="failed"}``, and ``--once``
waits for what is left at most that long once its check is over, then exits with the
check's own code.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.commit_status import CommitStatus, Watch, heard, watch
from gitops_compose.core.reconcile.forge import (
    FORGES,
    Forge,
    ForgeTarget,
    api_problem,
    repository_problem,
    status_request,
    target_of,
)
from gitops_compose.shell import log
from gitops_compose.shell.delivery import Deliveries
from gitops_compose.shell.git_repository import redacted

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from gitops_compose.core.reconcile.event import Event


@final
@dataclass(frozen=True, slots=True)
class ForgeOptions:
    """What the command line says of the forge, before the remote's URL is known."""

    forge: Forge
    token: str = field(repr=False)
    # --forge-url and --forge-repo; None: from the remote's URL.
    api: str | None
    repository: str | None
    # The host's name, in the status's context.
    name: str
    timeout: float


@final
@dataclass(frozen=True, slots=True)
class StatusSettings:
    target: ForgeTarget
    token: str = field(repr=False)
    name: str
    timeout: float


@final
class CommitStatuses:
    """Hears a check's events and posts the statuses they call for, in order."""

    def __init__(self, settings: StatusSettings) -> None:
        self.settings = settings
        self._watch: Watch = watch(settings.name)
        self._queue: queue.Queue[CommitStatus] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.deliveries = Deliveries(
            "gitops_commit_statuses",
            "Commit statuses posted to the forge since the daemon started, by result.",
        )

    def report(self, event: Event) -> None:
        self._watch, status = heard(self._watch, event)
        if status is not None:
            self._queue.put(replace(status, description=redacted(status.description)))
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="commit-statuses", daemon=True
                )
                self._worker.start()

    def _work(self) -> None:
        while True:
            status = self._queue.get()
            try:
                self._post(status)
            finally:
                self._queue.task_done()

    def _post(self, status: CommitStatus) -> None:
        request = status_request(self.settings.target, self.settings.token, status)
        try:
            why = _sent(request.url, dict(request.headers), request.body, self.settings.timeout)
        except Exception as error:
            why = f"{type(error).__name__}: {error}"
        self.deliveries.count(delivered=why is None)
        if why is not None:
            log.event(
                "commit-status",
                logging.ERROR,
                commit=status.sha[:12],
                state=status.verdict.value,
                forge=self.settings.target.forge.value,
                outcome="failed",
                error=redacted(why).replace(self.settings.token, "***"),
            )
        else:
            log.event(
                "commit-status",
                logging.DEBUG,
                commit=status.sha[:12],
                state=status.verdict.value,
                outcome="posted",
            )

    def wait(self, timeout: float) -> None:
        """Until every status heard so far is posted, or ``timeout`` seconds went by; what
        is left then is counted as failed, with one line."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                done.wait(left)
            unposted = self._queue.unfinished_tasks
        if unposted:
            self.deliveries.count(delivered=False, times=unposted)
            log.event(
                "commit-status",
                logging.ERROR,
                outcome="failed",
                error=f"{unposted} status(es) not posted within {timeout:g} s",
            )

    def collect(self) -> Iterator[Metric]:
        """``gitops_commit_statuses_total`` by result, for the daemon's /metrics."""
        return self.deliveries.collect()


def forge_problem(chosen: str, api: str | None, repository: str | None) -> str | None:
    """What is wrong with ``--commit-status FORGE``, ``--forge-url`` and ``--forge-repo``,
    or None."""
    text = chosen.strip().lower()
    if text not in FORGES:
        return f"--commit-status must be github, gitea or gitlab, not {chosen!r}"
    if api is not None:
        problem = api_problem(api)
        if problem is not None:
            return problem
    if repository is not None:
        return repository_problem(Forge(text), repository)
    return None


def forge_options(
    chosen: str, *, token: str, api: str | None, repository: str | None, name: str, timeout: float
) -> ForgeOptions:
    """The options of a forge ``forge_problem`` found nothing wrong with."""
    forge = Forge(chosen.strip().lower())
    return ForgeOptions(forge, token, api, repository, name, timeout)


def poster(forge: ForgeOptions, remote: str, remote_url: str | None) -> Result[CommitStatuses, str]:
    """The poster of commit statuses, its forge's API and repository worked out from the
    remote's URL where the options leave them; Failure: one line saying what to pass."""
    found = target_of(forge.forge, remote_url, forge.api, forge.repository)
    if isinstance(found, Failure):
        return Failure(f"--commit-status {forge.forge.value}: remote {remote}: {found.failure()}")
    target = found.unwrap()
    log.event(
        "commit-status",
        logging.DEBUG,
        forge=forge.forge.value,
        api=target.api,
        repository=target.repository,
    )
    return Success(CommitStatuses(StatusSettings(target, forge.token, forge.name, forge.timeout)))


def _sent(url: str, headers: dict[str, str], body: bytes, timeout: float) -> str | None:
    """POST the body; None when the forge took it (2xx), else why not (no body, no token)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            code = int(answer.status)
    except urllib.error.HTTPError as error:
        error.close()
        return f"the forge answered HTTP {error.code} {error.reason}"
    except urllib.error.URLError as error:
        return f"cannot reach the forge: {error.reason}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    if not 200 <= code < 300:
        return f"the forge answered HTTP {code}"
    return None
