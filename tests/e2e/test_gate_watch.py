"""The health gate watches instead of polling: the stacks at their gate are watched together,
from one ``docker events`` stream, so a first pass of N new stacks costs N ``compose up``
and a constant number of other Docker calls, however many stacks there are."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .harness import World, stack_yaml
from .test_reconcile import once, stack_events

STACKS = 20
# Docker calls beyond the N `compose up` of a first pass of N new stacks.
CONSTANT = 10


def streams_of(world: World) -> list[int]:
    """Processes still running `docker events` for this world's runs (its wrapper on PATH)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"events" in command[1:2] and str(world.bin_dir).encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("settle", ["0", "3"])
def test_a_first_pass_of_twenty_new_stacks_makes_twenty_ups_and_a_few_calls_more(
    world: World, settle: str
) -> None:
    prefix = f"gwatch{uuid.uuid4().hex[:6]}"
    paths = [f"{prefix}{n:02d}" for n in range(STACKS)]
    for path in paths:
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("twenty new stacks")
    world.clear_calls()

    done = once(world, "--settle", settle)

    assert done.returncode == 0, done.stderr
    for path in paths:
        [event] = stack_events(done, path)
        assert (event["action"], event["outcome"]) == ("start", "ok"), event
        assert [c["state"] for c in world.containers(path)] == ["running"]
    calls = world.docker_calls()
    ups = [call for call in calls if call.startswith("compose ") and " up " in f"{call} "]
    assert len(ups) == STACKS, calls
    print(f"settle {settle}: {len(calls)} Docker calls, {len(ups)} of them compose up")
    assert len(calls) <= STACKS + CONSTANT, "\n".join(calls)
    # One stream at a time, opened while gates were (again, when all had closed and
    # another opened), and gone with the check.
    assert sum(call.startswith("events ") for call in calls) <= 2, calls
    assert streams_of(world) == []
