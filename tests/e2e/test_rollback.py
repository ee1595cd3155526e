"""Rollback on the real engine: a changed stack that fails its health gate comes back to
what last ran well (its files and its image), its untracked data untouched, and is not
tried again until its files change or ``retry`` asks."""

from __future__ import annotations

import uuid

from .harness import IMAGE_V1, IMAGE_V2, World, git, metric_samples, stack_yaml
from .test_cron_and_plan import by_stack, status
from .test_reconcile import once, stack_commands, stack_events


def test_a_crash_after_start_is_rolled_back_with_its_data_and_waits_for_a_fix(
    world: World,
) -> None:
    path = f"roll{uuid.uuid4().hex[:6]}"
    data = "volumes:\n  - ./data:/data"
    world.pusher.write(".gitignore", "data/\n")
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600", extra=data))
    world.pusher.commit_and_push("a stack with data")
    assert once(world, "--settle", "1").returncode == 0
    good = git(world.host, "rev-parse", "HEAD")
    world.exec(path, "app", "echo kept > /data/note")
    crashing = stack_yaml(
        "echo migrating; sleep 1; echo schema mismatch; exit 1",
        image=IMAGE_V2,
        extra=f"{data}\nrestart: unless-stopped",
    )
    world.pusher.write(f"{path}/compose.yaml", crashing)
    world.pusher.commit_and_push("a release that crashes")
    metrics = world.tmp / "gitops.prom"

    done = once(world, "--settle", "4", "--metrics-file", str(metrics))

    assert done.returncode == 1, done.stderr
    [event] = stack_events(done, path)
    error = str(event["error"])
    assert error.startswith(f"rolled back to {good[:12]}: "), error
    assert "schema mismatch" in error
    [container] = world.containers(path)
    # The image it ran before, by id: a tag moved since would not change it.
    v1 = world.docker("image", "inspect", "--format", "{{.Id}}", IMAGE_V1).stdout.strip()
    assert (container["image"], container["state"]) == (v1, "running")
    assert world.exec(path, "app", "cat /data/note").strip() == "kept"
    record = by_stack(status(world))[path]
    assert (record["status"], record["last_error"]) == ("error", error)
    assert record["deployed_commit"] == good
    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_rollbacks_total{{project={path},stack={path}}}"] == 1
    assert samples["gitops_deployment_error_total"] == 1
    # The clone is at the new commit, and clean.
    assert git(world.host, "rev-parse", "HEAD") == git(world.pusher.path, "rev-parse", "HEAD")
    assert git(world.host, "status", "--porcelain") == ""

    world.clear_calls()
    quiet = once(world)
    assert stack_commands(world) == []  # the same files are not tried again by themselves
    assert quiet.returncode == 1
    planned = world.run("plan")
    assert f"wait     {path} (rolled back to {good[:12]}" in planned.stdout

    retried = world.run("retry", path)
    assert retried.returncode == 0, retried.stderr
    again = once(world, "--settle", "4")
    [retry] = stack_events(again, path)
    assert str(retry["reason"]).startswith("retry after error")
    assert str(retry["error"]).startswith(f"rolled back to {good[:12]}: ")

    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600", image=IMAGE_V2, extra=data))
    world.pusher.commit_and_push("the fix")
    fixed = once(world, "--settle", "1")
    assert fixed.returncode == 0, fixed.stderr
    [container] = world.containers(path)
    assert container["image"] == IMAGE_V2
    assert world.exec(path, "app", "cat /data/note").strip() == "kept"
    assert by_stack(status(world))[path]["status"] == "ok"


def test_no_rollback_leaves_the_failed_stack_as_compose_left_it(world: World) -> None:
    path = f"noroll{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("a stack")
    assert once(world).returncode == 0
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("exit 3", image=IMAGE_V2))
    world.pusher.commit_and_push("a release that exits")

    done = once(world, "--no-rollback")

    [event] = stack_events(done, path)
    assert str(event["error"]).startswith("exited: app exit 3")
    [container] = world.containers(path)
    assert container["image"] == IMAGE_V2


def test_a_rollback_brings_back_the_old_image_by_id_when_its_tag_was_pushed_over(
    world: World,
) -> None:
    path = f"tag{uuid.uuid4().hex[:6]}"
    tag = f"127.0.0.1:5000/gitops-test/mutable-{path}:1"

    def push_as_tag(source: str) -> str:
        world.docker("tag", source, tag)
        world.docker("push", tag)
        return world.docker("image", "inspect", "--format", "{{.Id}}", source).stdout.strip()

    old = push_as_tag(IMAGE_V1)
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=tag))
    world.pusher.commit_and_push("a stack on a mutable tag")
    assert once(world, "--settle", "1").returncode == 0
    new = push_as_tag(IMAGE_V2)  # the same tag name, now another image
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("exit 4", image=tag))
    world.pusher.commit_and_push("a release that exits, on the moved tag")

    done = once(world, "--settle", "1")

    [event] = stack_events(done, path)
    assert str(event["error"]).startswith("rolled back to "), event
    [container] = world.containers(path)
    assert (container["image"], container["state"]) == (old, "running")
    assert old != new


def test_an_up_that_fails_after_replacing_containers_is_rolled_back(world: World) -> None:
    path = f"half{uuid.uuid4().hex[:6]}"

    def stack(check: str) -> str:
        return f"""services:
  db:
    image: {IMAGE_V1}
    network_mode: none
    init: true
    command: ["sh", "-c", "sleep 3600"]
    healthcheck: {{test: ["CMD", "{check}"], interval: 1s, retries: 2, start_period: 0s}}
  web:
    image: {IMAGE_V1}
    network_mode: none
    init: true
    command: ["sh", "-c", "sleep 3600"]
    depends_on: {{db: {{condition: service_healthy}}}}
"""

    world.pusher.write(f"{path}/compose.yaml", stack("true"))
    world.pusher.commit_and_push("db and web")
    assert once(world, "--settle", "1").returncode == 0
    world.pusher.write(f"{path}/compose.yaml", stack("false"))
    world.pusher.commit_and_push("db's check fails: up fails once db is replaced")

    done = once(world, "--settle", "1")

    [event] = stack_events(done, path)
    assert str(event["error"]).startswith("rolled back to "), event
    states = {c["service"]: c["state"] for c in world.containers(path)}
    assert states == {"db": "running", "web": "running"}
    healthy = world.docker(
        "inspect",
        "--format",
        "{{.State.Health.Status}}",
        next(c["id"] for c in world.containers(path) if c["service"] == "db"),
    )
    assert healthy.stdout.strip() in {"healthy", "starting"}
