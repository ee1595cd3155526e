"""Delivery of notifications to a real HTTP receiver in this process, through Apprise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import apprise
import pytest

from gitops_compose.core.reconcile.notice import Level, Notice, NotifyOn
from gitops_compose.shell.notifier import Notifier, NotifySettings

NOTICE = Notice(Level.INFO, "title", "body")


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A ``json://`` URL served here, and the bodies posted to it."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/", bodies
    server.shutdown()
    server.server_close()


def test_loading_apprise_on_a_busy_host_does_not_count_against_a_target(
    receiver: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy host takes seconds to load Apprise's plugins: a receiver that answers at once
    must still get the message when that load is longer than --notify-timeout."""
    url, bodies = receiver
    load: Callable[..., None] = apprise.NotificationManager.load_modules
    slowed: list[bool] = []

    def slow_first_load(manager: apprise.NotificationManager, *args: object) -> None:
        if not slowed:
            slowed.append(True)
            time.sleep(1.5)
        load(manager, *args)

    monkeypatch.setattr(apprise.NotificationManager, "load_modules", slow_first_load)
    notifier = Notifier(NotifySettings((url,), NotifyOn.FAILURES, timeout=1.0, host="h"))

    results = notifier.deliver([NOTICE])

    assert slowed
    assert results == {url: True}
    assert len(bodies) == 1
