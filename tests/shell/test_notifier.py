"""Delivery of notifications to a real HTTP receiver in this process, through Apprise."""

from __future__ import annotations

import time
from collections.abc import Callable

import apprise
import pytest

from gitops_compose.core.reconcile.notice import Level, Notice, NotifyOn
from gitops_compose.shell.notifier import Notifier, NotifySettings

NOTICE = Notice(Level.INFO, "title", "body")


def test_loading_apprise_on_a_busy_host_does_not_count_against_a_target(
    json_receiver: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy host takes seconds to load Apprise's plugins: a receiver that answers at once
    must still get the message when that load is longer than --notify-timeout."""
    url, bodies = json_receiver
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
