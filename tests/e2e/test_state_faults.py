"""A state file of the wrong shape, with the real engine: one line, no traceback, set aside."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from .harness import World, stack_yaml
from .test_reconcile import events, running, stack_events

# Stack paths, and so Compose projects, of this run alone: the engine is shared.
_RUN = uuid.uuid4().hex[:6]
APP, LATE, BAD, WEB = (f"{name}-{_RUN}" for name in ("app", "late", "bad", "web"))

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
    world.pusher.write(f"{APP}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push(APP)
    assert world.run("--once").returncode == 0
    # Stopped by hand: only a full pass starts it again without a push.
    world.docker("compose", "--project-name", APP, "stop")
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
    assert f"start    {APP} (not running: app exited" in plan.stdout

    done = world.run("--once", "--log-format", "json")
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    [warned] = [e for e in events(done) if e["event"] == "state"]
    assert warned["level"] == "warning"
    assert "unusable" in warned["warning"]
    [aside] = state_file(world).parent.glob("state.json.unusable-*")
    assert aside.read_text() == text
    # The full pass: the stack stopped by hand runs again, and the new state is sound.
    [start] = stack_events(done, APP)
    assert start["reason"].startswith("not running")
    assert running(world, APP)
    shown = world.run("status", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert [(e["stack"], e["status"]) for e in json.loads(shown.stdout)["stacks"]] == [(APP, "ok")]
