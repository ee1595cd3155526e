"""The metrics hear a check as a reporter, and show its state only once it is saved: a
state that could not be saved (a full disk) is never shown, in /metrics or in the file."""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gitops_compose.core.reconcile.state import Counters, State
from gitops_compose.shell import deploy
from gitops_compose.shell.deploy import Job, Options
from gitops_compose.shell.metrics import StateMetrics
from gitops_compose.shell.state_file import read_state

from ..models import ModelHost, ModelRepository
from .test_events import SETTINGS, STACK


class UnwatchedHost(ModelHost):
    def container_events(self) -> None:
        return None

    def forget_plaintext(self, keep: set[str]) -> None:
        return None


def job(state_dir: Path, metrics_file: Path) -> Job:
    repo = ModelRepository({"c1": {"web/compose.yaml": STACK}}, "c1", "c1")
    options = Options(
        repo=state_dir,
        remote="origin",
        branch="main",
        interval=None,
        once=True,
        self_heal=False,
        state_dir=state_dir,
        metrics_addr=None,
        metrics_file=metrics_file,
        compose_timeout=60.0,
        jobs=1,
        health_timeout=0.0,
        settle=0.0,
        rollback=False,
        stack=None,
        ssh_key=None,
        output_format="text",
        log_format="json",
        log_level=20,
    )
    repository: Any = repo
    host: Any = UnwatchedHost(repo)
    # No gate: the check runs on the real clock.
    settings = replace(SETTINGS, health_timeout=0.0)
    return Job(repository, host, settings, state_dir, options, threading.Event())


def test_metrics_show_nothing_of_a_check_whose_state_could_not_be_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state_dir, textfile = tmp_path / "state", tmp_path / "metrics.prom"
    metrics = StateMetrics(State(counters=Counters(check_success=5)))
    checks = job(state_dir, textfile)

    def full(directory: Path, state: State) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(deploy, "save_state", full)
        unsaved = checks.check(metrics)

    assert not unsaved.written
    assert unsaved.report.state.counters.check_success == 1  # what was not saved
    assert [each.levelno for each in caplog.records if each.msg == "state"] == [logging.ERROR]
    # Shown: the state from before, not the one that is on no disk.
    assert metrics.state.counters.check_success == 5
    assert not textfile.exists()

    saved = checks.check(metrics)

    assert saved.written
    on_disk = read_state(state_dir).unwrap()
    assert metrics.state == on_disk == saved.report.state
    # Counted from the saved state: the unsaved check left no count behind.
    assert on_disk.counters.check_success == 1
    assert "gitops_check_success_total 1.0" in textfile.read_text().splitlines()
