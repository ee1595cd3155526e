"""A state file of the wrong shape, and a full disk under the state or the metrics file,
with the real engine: one line each, no traceback, nothing lost, and the next check acts.

The full disk is real: a tmpfs of 64 KiB, filled up with a filler file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import IMAGE_V1, IMAGE_V2, MISSING_IMAGE, World, metric_samples, stack_yaml
from .test_interrupted import wait_for
from .test_reconcile import events, ids, running, stack_events

# Stack paths, and so Compose projects, of this run alone: the engine is shared.

# The bug report's four files, each of which made every command print a traceback.
WRONG_SHAPES = {
    "stacks a list": '{"version": 1, "stacks": [1, 2]}',
    "counters a list": '{"version": 1, "counters": [1]}',
    "retry_at 1e400": (
        '{"version": 1, "stacks": {"old": {"status": "error", "project": "old", '
        '"retry_at": 1e400}}}'
    ),
    "last_check NaN": '{"version": 1, "counters": {"last_check": NaN}}',
}


def state_file(world: World) -> Path:
    return world.host / ".git" / "gitops-compose" / "state.json"


def no_traceback(done: subprocess.CompletedProcess[str] | str) -> None:
    text = done if isinstance(done, str) else done.stderr
    assert "Traceback" not in text, text


@pytest.mark.parametrize("text", list(WRONG_SHAPES.values()), ids=list(WRONG_SHAPES))
def test_a_state_file_of_the_wrong_shape_is_one_line_then_set_aside(
    world: World, text: str
) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push(app)
    assert world.run("--once").returncode == 0
    # Stopped by hand: only a full pass starts it again without a push.
    world.docker("compose", "--project-name", app, "stop")
    state_file(world).write_text(text)

    status = world.run("status")
    no_traceback(status)
    assert status.returncode == 2
    [line] = status.stderr.splitlines()
    assert "is unusable" in line
    assert f"{state_file(world)}" in line

    plan = world.run("plan")
    no_traceback(plan)
    [warning] = plan.stderr.splitlines()
    assert "warn" in warning
    assert "is unusable" in warning
    # plan writes nothing: the file is still there for --once to set aside.
    assert state_file(world).read_text() == text
    assert f"start    {app} (not running: app exited" in plan.stdout

    done = world.run("--once", "--log-format", "json")
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    [warned] = [e for e in events(done) if e["event"] == "state"]
    assert warned["level"] == "warning"
    assert "unusable" in warned["warning"]
    [aside] = state_file(world).parent.glob("state.json.unusable-*")
    assert aside.read_text() == text
    # The full pass: the stack stopped by hand runs again, and the new state is sound.
    [start] = stack_events(done, app)
    assert start["reason"].startswith("not running")
    assert running(world, app)
    shown = world.run("status", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert [(e["stack"], e["status"]) for e in json.loads(shown.stdout)["stacks"]] == [(app, "ok")]


# --- a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 64 KiB (a tmpfs), unmounted again whatever the test did."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk up to the last byte; the filler file is returned for removing."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        # Writes until the disk is full.
        with pytest.raises(OSError, match="No space left on device"):  # noqa: PT012
            while True:
                os.write(handle, b"\0" * 512)
    finally:
        os.close(handle)
    return filler


def error_events(done: subprocess.CompletedProcess[str], event: str) -> list[dict[str, Any]]:
    return [e for e in events(done) if e["event"] == event and e["level"] == "error"]


def every_line_is_an_event(stderr: str) -> None:
    """Nothing but log lines: no traceback, no stray message."""
    for line in stderr.splitlines():
        json.loads(line)


def status_of(world: World, *args: str) -> dict[str, dict[str, Any]]:
    done = world.run("status", "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    return {entry["stack"]: entry for entry in json.loads(done.stdout)["stacks"]}


def test_a_full_state_disk_fails_the_check_loses_nothing_and_the_next_saves(
    world: World, small_disk: Path
) -> None:
    app, late, bad = world.names("app", "late", "bad")
    on_disk = ("--state-dir", str(small_disk))
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push(app)
    assert world.run("--once", *on_disk).returncode == 0
    saved = (small_disk / "state.json").read_bytes()
    filler = fill(small_disk)
    world.pusher.write(f"{app}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.write(f"{late}/compose.yaml", stack_yaml())
    world.pusher.write(f"{bad}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    pushed = world.pusher.commit_and_push("app changed, late and bad new")

    full = world.run("--once", "--log-format", "json", *on_disk)

    every_line_is_an_event(full.stderr)
    assert full.returncode == 1
    [error] = error_events(full, "state")
    assert "No space left on device" in error["error"]
    assert "the next check plans again" in error["error"]
    # The deploy happened; the state file is the one from before, and nothing else is left.
    assert world.exec(app, "app", "cat /VERSION").strip() == "2"
    assert running(world, late)
    assert (small_disk / "state.json").read_bytes() == saved
    # environment.key: the host key the first check made beside the state (see State).
    assert sorted(each.name for each in small_disk.iterdir()) == [
        "environment.key",
        "filler",
        "lock",
        "state.json",
    ]
    assert status_of(world, *on_disk).keys() == {app}

    filler.unlink()
    late_ids = ids(world, late)
    freed = world.run("--once", "--log-format", "json", *on_disk)

    every_line_is_an_event(freed.stderr)
    assert error_events(freed, "state") == []
    # What the unsaved check did is acted on again: the failed stack is tried again, the
    # changed one deployed again; the new one runs as it is and is adopted.
    assert [e["outcome"] for e in stack_events(freed, bad)] == ["error"]
    assert [e["action"] for e in stack_events(freed, app)] == ["restart"]
    assert stack_events(freed, late) == []
    assert ids(world, late) == late_ids
    assert freed.returncode == 1  # bad still cannot be pulled
    shown = status_of(world, *on_disk)
    assert {path: entry["status"] for path, entry in shown.items()} == {
        app: "ok",
        late: "ok",
        bad: "error",
    }
    assert shown[app]["deployed_commit"] == pushed
    assert shown[late]["deployed_commit"] == pushed
    assert shown[bad]["failures"] == 1


def test_a_full_metrics_file_disk_fails_the_check_and_the_next_writes_it(
    world: World, small_disk: Path
) -> None:
    app, web = world.names("app", "web")
    textfile = small_disk / "gitops.prom"
    to_file = ("--metrics-file", str(textfile))
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push(app)
    assert world.run("--once", *to_file).returncode == 0
    written = textfile.read_text()
    assert metric_samples(written)["gitops_deployment_success_total"] == 1
    filler = fill(small_disk)
    world.pusher.write(f"{web}/compose.yaml", stack_yaml())
    pushed = world.pusher.commit_and_push(web)

    full = world.run("--once", "--log-format", "json", *to_file)

    every_line_is_an_event(full.stderr)
    assert full.returncode == 1
    [error] = error_events(full, "metrics-file")
    assert f"cannot write {textfile}: No space left on device" in error["error"]
    assert running(world, web)
    assert textfile.read_text() == written
    assert sorted(each.name for each in small_disk.iterdir()) == ["filler", "gitops.prom"]
    # The state was saved: only the metrics file is behind.
    assert status_of(world)[web]["deployed_commit"] == pushed

    filler.unlink()
    freed = world.run("--once", "--log-format", "json", *to_file)

    assert freed.returncode == 0, freed.stderr
    samples = metric_samples(textfile.read_text())
    assert samples["gitops_deployment_success_total"] == 2
    assert samples["gitops_check_success_total"] == 3


def test_a_daemon_lives_through_checks_it_cannot_save_and_saves_once_there_is_room(
    world: World, small_disk: Path, tmp_path: Path
) -> None:
    app = world.name("app")
    on_disk = ("--state-dir", str(small_disk))
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push(app)
    filler = fill(small_disk)
    log = tmp_path / "daemon.log"
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [
                *world.run_command(),
                "--interval",
                "1",
                "--no-metrics",
                "--log-format",
                "json",
                *on_disk,
            ],
            env=world.env(),
            stderr=stderr,
            text=True,
        )
    try:

        def unsaved() -> int:
            return sum(
                1
                for line in log.read_text().splitlines()
                if '"event": "state"' in line and '"level": "error"' in line
            )

        assert wait_for(lambda: unsaved() >= 3, 60), log.read_text()
        assert daemon.poll() is None
        assert running(world, app)
        assert not (small_disk / "state.json").exists()

        filler.unlink()
        assert wait_for((small_disk / "state.json").exists, 30), log.read_text()
        shown = status_of(world, *on_disk)
        assert shown[app]["status"] == "ok"
        assert [c["image"] for c in world.containers(app)] == [IMAGE_V1]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    stderr_text = log.read_text()
    assert daemon.returncode == 0, stderr_text
    every_line_is_an_event(stderr_text)
