"""A check stopped or killed half-way, on the real engine: the next check finishes it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from .harness import IMAGE_V1, IMAGE_V2, World, stack_yaml


def six_stacks(world: World) -> list[str]:
    return [world.name(f"half{n}") for n in range(6)]


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def ups(world: World) -> int:
    return sum(1 for call in world.compose_calls() if " up " in call)


def images(world: World, stacks: list[str]) -> dict[str, list[str]]:
    return {path: [c["image"] for c in world.containers(path)] for path in stacks}


def slow_check(world: World) -> subprocess.Popen[str]:
    """``--once --jobs 1`` whose every Compose command waits a second first."""
    return subprocess.Popen(
        [*world.run_command(), "--once", "--jobs", "1"],
        env=world.env({"GITOPS_E2E_SLOW_COMPOSE": "1"}),
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sigterm_finishes_the_running_command_and_the_next_check_the_rest(
    world: World,
) -> None:
    stacks = six_stacks(world)
    for path in stacks:
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("six new stacks")
    world.clear_calls()
    check = slow_check(world)
    assert wait_for(lambda: ups(world) >= 2, 60)
    check.send_signal(signal.SIGTERM)
    _, stderr = check.communicate(timeout=60)

    assert check.returncode == 1, stderr
    assert "stopped before the end" in stderr
    assert "Traceback" not in stderr
    started = [path for path in stacks if world.containers(path)]
    assert 2 <= len(started) < len(stacks)
    # The command that ran when the signal came finished: no container was left half-made.
    assert all(c["state"] == "running" for path in started for c in world.containers(path))

    done = world.run("--once")

    assert done.returncode == 0, done.stderr
    assert images(world, stacks) == {path: [IMAGE_V1] for path in stacks}


def test_a_check_killed_after_some_restarts_is_finished_by_the_next(world: World) -> None:
    stacks = six_stacks(world)
    for path in stacks:
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("six stacks")
    assert world.run("--once").returncode == 0
    for path in stacks:
        world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.commit_and_push("six stacks changed")
    world.clear_calls()
    check = slow_check(world)
    assert wait_for(lambda: ups(world) >= 3, 60)
    check.kill()
    check.communicate(timeout=30)
    time.sleep(1.5)  # the Compose command the kill orphaned ends on its own
    assert wait_for(
        lambda: sum(1 for p in stacks if images(world, stacks)[p] == [IMAGE_V2]) >= 2, 30
    )
    assert any(each == [IMAGE_V1] for each in images(world, stacks).values())

    done = world.run("--once")

    assert done.returncode == 0, done.stderr
    assert images(world, stacks) == {path: [IMAGE_V2] for path in stacks}
    assert world.run("plan").returncode == 0
