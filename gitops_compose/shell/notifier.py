"""Notifications through Apprise, as a reporter of a check's events (see reporter).

The notifier keeps the check's events; once the check has settled, the core decides what
to tell (core/reconcile/notice.decide, with the memory from the state file) and the notices
go out on threads, one per target. Delivery never fails, slows or blocks a check: the
caller waits for it at most ``timeout`` seconds, and a target that cannot be reached is one
log line (once, until it is reached again) and a count in
``gitops_notifications_total{result="failed"}``. Apprise is imported on a delivery thread,
only when there is something to send.
"""

from __future__ import annotations

import logging
import os
import pkgutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, final
from urllib.parse import urlsplit

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.notice import Level, Notice, NotifyOn, decide
from gitops_compose.core.value import replace
from gitops_compose.shell import log
from gitops_compose.shell.delivery import Deliveries
from gitops_compose.shell.git_repository import redacted

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from gitops_compose.core.reconcile.event import Event
    from gitops_compose.core.reconcile.state import State


@final
@dataclass(frozen=True, slots=True)
class NotifySettings:
    urls: tuple[str, ...]
    on: NotifyOn
    timeout: float
    host: str


def settings_of(
    urls: tuple[str, ...], on: str, timeout: float, host: str
) -> Result[NotifySettings, str]:
    """The settings of --notify URL... (Apprise URLs, each ``scheme://...``), or why not."""
    for url in urls:
        scheme, sep, _ = url.partition("://")
        if not sep or not scheme.replace("+", "").isalnum():
            shown = target_name(url)
            return Failure(f"--notify takes an Apprise URL (scheme://...), not {shown!r}")
    return Success(NotifySettings(urls, NotifyOn(on), timeout, host))


def target_name(url: str) -> str:
    """A target as a log line names it: its scheme and host, never a token or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if _port(url) else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "(no scheme)"


def _port(url: str) -> bool:
    try:
        return urlsplit(url).port is not None
    except ValueError:
        return False


@final
class Notifier:
    """Hears a check's events; ``settled`` decides and sends, once the check is over."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._events: list[Event] = []
        self._lock = threading.Lock()
        # Targets whose last delivery failed: logged once until they are reached again.
        self._failing: set[str] = set()
        self.deliveries = Deliveries(
            "gitops_notifications",
            "Notifications since the daemon started, by whether a target took them.",
        )

    def report(self, event: Event) -> None:
        self._events.append(event)

    def collect(self) -> Iterator[Metric]:
        """``gitops_notifications_total`` by result, for the daemon's /metrics."""
        return self.deliveries.collect()

    def settled(self, state: State) -> tuple[State, threading.Thread | None]:
        """The state with the notifications' new memory, and the thread delivering what
        this check's events call for (None: nothing to send)."""
        events, self._events = self._events, []
        notices, memory = decide(events, state.notified, self.settings.host, self.settings.on)
        after = replace(state, notified=memory)
        if not notices or not self.settings.urls:
            return after, None
        thread = threading.Thread(
            target=self.deliver, args=(notices,), name="notifications", daemon=True
        )
        thread.start()
        return after, thread

    def deliver(self, notices: Sequence[Notice]) -> dict[str, bool]:
        """Send the notices to every target at once; whether each target took them all.

        Apprise and its plugins are loaded first, here, for all targets: that is this
        process's own work (about a second on a busy host), not a target's, so it does not
        count against the timeout. Then it returns within about the timeout: a target still
        busy by then counts as failed."""
        _apprise()
        results: dict[str, bool] = {}
        threads = []
        for url in self.settings.urls:
            thread = threading.Thread(
                target=self._to_target, args=(url, notices, results), daemon=True
            )
            thread.start()
            threads.append((url, thread))
        deadline = time.monotonic() + self.settings.timeout
        for url, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._record(url, ok=False, why=f"no answer within {self.settings.timeout:g} s")
                results.setdefault(url, False)
        return results

    def _to_target(self, url: str, notices: Sequence[Notice], results: dict[str, bool]) -> None:
        try:
            ok, why = _send(url, notices, self.settings.timeout)
        except Exception as error:
            ok, why = False, f"{type(error).__name__}: {error}"
        with self._lock:
            if url in results:  # already counted as timed out
                return
            results[url] = ok
        self._record(url, ok=ok, why=why)

    def _record(self, url: str, *, ok: bool, why: str | None) -> None:
        name = target_name(url)
        self.deliveries.count(delivered=ok)
        with self._lock:
            if ok:
                if url in self._failing:
                    self._failing.discard(url)
                    log.event("notify", target=name, outcome="delivered again")
                return
            first = url not in self._failing
            self._failing.add(url)
        if first:
            log.event(
                "notify",
                logging.ERROR,
                target=name,
                outcome="failed",
                error=redacted(why or "not delivered"),
            )


def _send(url: str, notices: Sequence[Notice], timeout: float) -> tuple[bool, str | None]:
    apprise = _apprise()
    target = apprise.Apprise()
    if not target.add(_with_timeouts(url, timeout)):
        return False, "not an Apprise URL Apprise understands"
    for notice in notices:
        if not target.notify(
            title=redacted(notice.title),
            body=redacted(notice.body),
            notify_type=apprise.NotifyType(notice.level.value),
        ):
            return False, "not delivered"
    return True, None


def _apprise() -> ModuleType:
    """Apprise, loaded when something is first sent.

    Apprise finds its plugins by listing its own folders on disk (``os.listdir`` in
    ``apprise.manager``). Inside gitops.pyz they are members of the zip, which zipimport
    loads but the file system cannot list; so its managers list a folder that is not a
    directory through the importer instead. Everything else of Apprise is as released.
    """
    import apprise  # noqa: PLC0415 - only when something is sent
    from apprise import manager  # noqa: PLC0415

    namespace = vars(manager)
    if not isinstance(namespace.get("os"), _ListingThroughImporters):
        namespace["os"] = _ListingThroughImporters()
    # The plugins, which Apprise would otherwise load on the first target's `add`.
    plugins: Any = apprise.NotificationManager  # untyped; a singleton, the one add() uses
    plugins().load_modules()
    return apprise


class _ListingThroughImporters:
    """``os`` as Apprise's managers see it, whose ``listdir`` also lists the modules of a
    package folder inside a zip."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def listdir(path: str) -> list[str]:
        if os.path.isdir(path):
            return os.listdir(path)
        return [name for _, name, _ in pkgutil.iter_modules([path])]


def _with_timeouts(url: str, timeout: float) -> str:
    """Apprise's own connect and read timeouts (``cto``, ``rto``), unless the URL sets them."""
    query = urlsplit(url).query
    if "rto=" in query or "cto=" in query:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}cto={timeout:g}&rto={timeout:g}"


TEST = Notice(Level.INFO, "gitops-compose test", "a test notification from gitops-compose")


def notify_test(settings: NotifySettings) -> int:
    """notify-test: one test message to each target; 0 when every one took it."""
    notifier = Notifier(NotifySettings(settings.urls, settings.on, settings.timeout, settings.host))
    test = Notice(
        TEST.level, f"{settings.host}: {TEST.title}", f"host {settings.host}: {TEST.body}"
    )
    results = notifier.deliver([test])
    for url in settings.urls:
        print(f"{target_name(url)}: {'delivered' if results.get(url) else 'not delivered'}")
    return 0 if settings.urls and all(results.get(url) for url in settings.urls) else 1
