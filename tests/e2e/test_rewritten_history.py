"""A force push, then the documented recovery: the host converges on the new history. The
stack that only the rewritten-away commit had is stopped by its project name and keeps its
volume; the stack the rewrite changed is restarted. Real engine, real git."""

from __future__ import annotations

import json
import uuid

import pytest

from .harness import IMAGE_V1, IMAGE_V2, World, git, stack_yaml
from .test_reconcile import events, once, stack_commands


def images(world: World, path: str) -> list[str]:
    return [c["image"] for c in world.containers(path)]


def rewritten(world: World) -> tuple[str, str, str]:
    """Three stacks deployed; then the last commit is rewritten: one stack changed, one
    gone, one as it was. Returns their paths."""
    suffix = uuid.uuid4().hex[:6]
    changed, ghost, kept = f"changed{suffix}", f"ghost{suffix}", f"kept{suffix}"
    world.pusher.write(f"{changed}/compose.yaml", stack_yaml())
    world.pusher.write(
        f"{ghost}/compose.yaml",
        stack_yaml(extra="volumes:\n  - data:/data", top="volumes:\n  data: {}"),
    )
    world.pusher.write(f"{kept}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("three stacks")
    assert once(world).returncode == 0
    world.exec(ghost, "app", "echo kept > /data/file")

    world.pusher.write(f"{changed}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.remove(ghost)
    world.pusher.force_push_rewrite()
    refused = once(world)
    assert refused.returncode == 1
    assert "not an ancestor" in refused.stderr
    return changed, ghost, kept


def converged(world: World, changed: str, ghost: str, kept: str, kept_ids: list[str]) -> None:
    planned = world.run("plan", "--format", "json")
    assert planned.returncode == 1, planned.stderr
    actions = {e["stack"]: e["action"] for e in json.loads(planned.stdout)["stacks"]}
    assert actions == {changed: "restart", ghost: "stop"}
    world.clear_calls()

    done = once(world)

    assert done.returncode == 0, done.stderr
    assert images(world, changed) == [IMAGE_V2]
    assert world.containers(ghost) == []
    assert world.volume_exists(f"{ghost}_data")
    assert [c["id"] for c in world.containers(kept)] == kept_ids  # never touched
    stopped = [e for e in events(done) if e["event"] == "stack" and e["stack"] == ghost]
    assert [(e["action"], e["outcome"]) for e in stopped] == [("stop", "ok")]
    status = json.loads(world.run("status", "--format", "json").stdout)
    assert ghost not in {entry["stack"] for entry in status["stacks"]}
    assert world.run("plan").returncode == 0
    world.clear_calls()
    assert once(world).returncode == 0
    assert stack_commands(world) == []


@pytest.mark.parametrize("recovery", ["git reset --hard", "accept-remote"])
def test_a_force_push_and_the_recovery_converge_and_keep_the_volume(
    world: World, recovery: str
) -> None:
    changed, ghost, kept = rewritten(world)
    kept_ids = [c["id"] for c in world.containers(kept)]
    assert images(world, changed) == [IMAGE_V1]

    if recovery == "accept-remote":
        accepted = world.run("accept-remote")
        assert accepted.returncode == 0, accepted.stderr
        assert "history rewritten" in accepted.stdout
        again = world.run("accept-remote")
        assert (again.returncode, "already" in again.stdout) == (0, True)
    else:
        git(world.host, "reset", "-q", "--hard", "origin/main")
    assert git(world.host, "rev-parse", "HEAD") == git(world.pusher.path, "rev-parse", "HEAD")

    converged(world, changed, ghost, kept, kept_ids)


def test_accept_remote_refuses_a_tree_with_changes_and_moves_nothing(world: World) -> None:
    rewritten(world)
    head = git(world.host, "rev-parse", "HEAD")
    (world.host / "notes.txt").write_text("mine\n")

    refused = world.run("accept-remote")

    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "refused" in line
    assert "notes.txt" in line
    assert git(world.host, "rev-parse", "HEAD") == head
    assert (world.host / "notes.txt").read_text() == "mine\n"
