"""Deploys that prove themselves: the health gate on the real engine. A stack counts as
deployed once its containers run (healthy, where they have a healthcheck) and keep running
through the settle window; one that crashes right after its start is an error, with why."""

from __future__ import annotations

import uuid

from .harness import IMAGE_V1, World, metric_samples, stack_yaml
from .test_cron_and_plan import by_stack, status
from .test_reconcile import once, stack_events


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


def test_a_container_that_crashes_two_seconds_after_its_start_fails_the_deploy(
    world: World,
) -> None:
    path = unique("crash")
    world.pusher.write(
        f"{path}/compose.yaml",
        stack_yaml(
            "echo starting up; sleep 2; echo cannot reach the database; exit 1",
            extra="restart: unless-stopped",
        ),
    )
    world.pusher.commit_and_push("a stack that crashes after two seconds")
    metrics = world.tmp / "gitops.prom"

    done = once(world, "--settle", "5", "--metrics-file", str(metrics))

    assert done.returncode == 1, done.stderr
    [event] = stack_events(done, path)
    assert event["outcome"] == "error"
    error = str(event["error"])
    # Docker restarts it (unless-stopped), or the look comes while it is down.
    assert error.startswith(("restarting: app (", "exited: app exit 1")), error
    assert "cannot reach the database" in error  # its last log lines
    entry = by_stack(status(world))[path]
    assert entry["status"] == "error"
    assert entry["last_error"] == error
    assert metric_samples(metrics.read_text())["gitops_deployment_error_total"] == 1


def test_a_failing_healthcheck_fails_the_deploy_and_a_passing_one_deploys(world: World) -> None:
    sick, fine = unique("sick"), unique("fine")
    check = "healthcheck:\n  test: ['CMD', '{}']\n  interval: 1s\n  retries: 2\n  start_period: 0s"
    world.pusher.write(f"{sick}/compose.yaml", stack_yaml(extra=check.format("false")))
    world.pusher.write(f"{fine}/compose.yaml", stack_yaml(extra=check.format("true")))
    world.pusher.commit_and_push("two stacks with healthchecks")

    done = once(world, "--settle", "1")

    assert done.returncode == 1, done.stderr
    [failed] = stack_events(done, sick)
    assert str(failed["error"]).startswith("unhealthy: app (health check failed")
    [passed] = stack_events(done, fine)
    assert passed["outcome"] == "ok"
    assert by_stack(status(world))[fine]["status"] == "ok"

    # A change that makes the healthy stack's check fail is rolled back.
    world.pusher.write(
        f"{fine}/compose.yaml", stack_yaml("sleep 7200", extra=check.format("false"))
    )
    world.pusher.commit_and_push("a release whose healthcheck fails")
    rolled = once(world, "--settle", "1")
    [event] = stack_events(rolled, fine)
    assert str(event["error"]).startswith("rolled back to "), event
    assert "unhealthy: app (health check failed" in str(event["error"])
    [container] = world.containers(fine)
    assert (
        "sleep 3600"
        in world.docker("inspect", "--format", "{{json .Config.Cmd}}", container["id"]).stdout
    )


def test_a_one_shot_migration_that_exits_0_before_the_web_service_starts_is_ok(
    world: World,
) -> None:
    path = unique("migrated")
    world.pusher.write(
        f"{path}/compose.yaml",
        f"""services:
  migrate:
    image: {IMAGE_V1}
    network_mode: none
    command: ["sh", "-c", "echo migrated"]
  web:
    image: {IMAGE_V1}
    network_mode: none
    init: true
    command: ["sh", "-c", "sleep 3600"]
    depends_on:
      migrate:
        condition: service_completed_successfully
""",
    )
    world.pusher.commit_and_push("a migration, then the web service")

    done = once(world, "--settle", "2")

    assert done.returncode == 0, done.stderr
    [event] = stack_events(done, path)
    assert event["outcome"] == "ok"
    assert by_stack(status(world))[path]["status"] == "ok"


def test_health_timeout_0_turns_the_gate_off(world: World) -> None:
    path = unique("ungated")
    world.pusher.write(
        f"{path}/compose.yaml", stack_yaml("sleep 3; exit 1", extra="restart: unless-stopped")
    )
    world.pusher.commit_and_push("a stack that crashes later")

    done = once(world, "--health-timeout", "0")

    [event] = stack_events(done, path)
    assert event["outcome"] == "ok"  # Compose's up went well; nothing waited for more
    # No container is inspected for a gate; the one look at the images the deployed stack
    # runs, to record them in the state, is the only inspect.
    inspects = [call for call in world.docker_calls() if call.startswith("inspect")]
    assert [call.split()[:4] for call in inspects] == [
        ["inspect", "--type", "container", "--format"]
    ]
