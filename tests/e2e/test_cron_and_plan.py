"""plan, status, durable state, retries, the lock and textfile metrics, with the real engine."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from .harness import IMAGE_V1, MISSING_IMAGE, World, git, metric_samples, stack_yaml
from .test_reconcile import events, ids, once, running, stack_commands, stack_events


def state_path(world: World) -> Path:
    return world.host / ".git" / "gitops-compose" / "state.json"


def plan(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return world.run("plan", *args)


def status(world: World) -> dict[str, Any]:
    done = world.run("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def by_stack(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["stack"]: entry for entry in document["stacks"]}


def textfile(path: Path) -> dict[str, float]:
    return metric_samples(path.read_text())


def two_stacks(world: World) -> tuple[str, str]:
    """Stacks app and web of this test, deployed."""
    app, web = world.names("app", "web")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.write(f"{web}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app and web")
    assert once(world).returncode == 0
    return app, web


def test_plan_exit_codes_and_json(world: World) -> None:
    new, broken, gitops = world.names("new", "broken", "gitops")
    app, web = two_stacks(world)
    in_sync = plan(world)
    assert in_sync.returncode == 0, in_sync.stderr
    assert "in sync" in in_sync.stdout

    world.pusher.write(f"{app}/.env", "A=1\n")
    world.pusher.remove(web)
    world.pusher.write(f"{new}/compose.yaml", stack_yaml())
    world.pusher.write(f"{broken}/compose.yaml", "services: [\n")
    world.pusher.write(
        f"{gitops}/compose.yaml", stack_yaml(extra='labels:\n  gitops.controller: "true"')
    )
    pushed = world.pusher.commit_and_push("four kinds of change")

    pending = plan(world, "--format", "json")
    assert pending.returncode == 1, pending.stderr
    document = json.loads(pending.stdout)
    assert document["version"] == 1
    assert document["in_sync"] is False
    assert document["remote"] == pushed
    assert document["fast_forward"]["to"] == pushed
    actions = {e["stack"]: (e["action"], e["reason"]) for e in document["stacks"]}
    assert actions[app] == ("restart", f"changed: {app}/.env")
    assert actions[web] == ("stop", "removed from main")
    assert actions[new] == ("start", "new")
    assert actions[gitops] == ("skip", "controller")
    assert actions[broken][0] == "error"
    assert actions[broken][1].startswith("invalid compose file")

    text = plan(world)
    assert text.returncode == 1
    assert f"restart  {app} (changed: {app}/.env)" in text.stdout
    assert f"stop     {web} (removed from main)" in text.stdout

    world.host.joinpath(f"{app}/notes.txt").write_text("edited on the host\n")
    failed = plan(world)
    assert failed.returncode == 2
    assert f"{app}/notes.txt" in failed.stderr
    assert failed.stdout == ""


def test_plan_changes_nothing(world: World) -> None:
    app, web = two_stacks(world)
    world.pusher.write(f"{app}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.remove(web)
    world.pusher.commit_and_push("change app, drop web")
    before_ids = {project: ids(world, project) for project in (app, web)}
    head = git(world.host, "rev-parse", "HEAD")
    saved = state_path(world).read_bytes()
    world.clear_calls()

    assert plan(world).returncode == 1

    assert {project: ids(world, project) for project in (app, web)} == before_ids
    assert git(world.host, "rev-parse", "HEAD") == head
    assert git(world.host, "status", "--porcelain") == ""
    assert state_path(world).read_bytes() == saved
    assert stack_commands(world) == []
    assert all(call.split()[0] in {"ps", "compose"} for call in world.docker_calls())


def test_status_after_success_and_after_failure(world: World) -> None:
    app, web = two_stacks(world)
    head = git(world.host, "rev-parse", "HEAD")
    stacks = by_stack(status(world))
    assert {path: entry["status"] for path, entry in stacks.items()} == {app: "ok", web: "ok"}
    assert stacks[app]["deployed_commit"] == head
    assert stacks[app]["desired_commit"] == head
    assert stacks[app]["last_error"] is None

    world.pusher.write(f"{web}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    pushed = world.pusher.commit_and_push("web on a missing image")
    assert once(world).returncode == 1
    stacks = by_stack(status(world))
    assert stacks[web]["status"] == "error"
    assert "missing" in stacks[web]["last_error"]
    assert stacks[web]["last_error_at"].endswith("Z")
    assert stacks[web]["deployed_commit"] == head
    assert stacks[web]["desired_commit"] == pushed
    assert stacks[app]["status"] == "ok"

    text = world.run("status")
    assert text.returncode == 0
    web_line = next(line for line in text.stdout.splitlines() if line.startswith(f"{web} "))
    assert "error" in web_line
    assert "missing" in web_line


def test_counters_survive_across_once_runs_in_the_textfile(world: World) -> None:
    app, web = world.names("app", "web")
    metrics = world.tmp / "textfile" / "gitops.prom"
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app")
    assert once(world, "--metrics-file", str(metrics)).returncode == 0
    world.pusher.write(f"{web}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("web")
    assert once(world, "--metrics-file", str(metrics)).returncode == 0
    assert once(world, "--metrics-file", str(metrics)).returncode == 0

    samples = textfile(metrics)
    assert samples["gitops_check_success_total"] == 3
    assert samples["gitops_check_error_total"] == 0
    assert samples["gitops_deployment_success_total"] == 2
    assert samples["gitops_deployment_active_total{status=ok}"] == 2
    assert samples[f"gitops_stack_status{{project={web},stack={web},status=ok}}"] == 1
    assert samples[f"gitops_stack_status{{project={web},stack={web},status=error}}"] == 0
    head = git(world.host, "rev-parse", "HEAD")
    assert samples[f"gitops_stack_deployed_info{{commit={head},project={web},stack={web}}}"] == 1
    assert list(metrics.parent.iterdir()) == [metrics]


def test_failed_stack_is_retried_with_backoff_without_a_push(world: World) -> None:
    late = world.name("late")
    image = f"127.0.0.1:5000/gitops-test/retry-{uuid.uuid4().hex[:8]}:1"
    world.pusher.write(f"{late}/compose.yaml", stack_yaml(image=image))
    world.pusher.commit_and_push("an image that is not there yet")
    assert once(world).returncode == 1
    first = by_stack(status(world))[late]
    assert (first["status"], first["failures"]) == ("error", 1)

    # The image appears in the registry; the repository does not change.
    world.docker("tag", IMAGE_V1, image)
    world.docker("push", image)
    world.docker("rmi", image)
    world.clear_calls()
    waiting = once(world)
    # Not due yet: nothing is tried, and the stack is still broken, so cron hears it.
    assert waiting.returncode == 1
    assert stack_commands(world) == []
    held = plan(world)
    assert held.returncode == 1
    assert f"wait     {late} (waiting 1 min to retry after error" in held.stdout

    # Time passes: the retry comes due, as the saved schedule says.
    saved = json.loads(state_path(world).read_text())
    saved["stacks"][late]["retry_at"] = time.time() - 1
    state_path(world).write_text(json.dumps(saved))
    retried = once(world)
    assert retried.returncode == 0, retried.stderr
    [start] = stack_events(retried, late)
    assert start["reason"] == "retry after error (attempt 2)"
    assert running(world, late)
    assert by_stack(status(world))[late]["status"] == "ok"


def test_corrupt_state_is_set_aside_and_running_stacks_are_adopted(world: World) -> None:
    app, web = two_stacks(world)
    before = {project: ids(world, project) for project in (app, web)}
    state_path(world).write_text("{ not json")

    done = once(world)

    assert done.returncode == 0, done.stderr
    [warning] = [e for e in events(done) if e["event"] == "state"]
    assert "unusable" in warning["warning"]
    aside = list(state_path(world).parent.glob("state.json.unusable-*"))
    assert len(aside) == 1
    assert aside[0].read_text() == "{ not json"
    assert {project: ids(world, project) for project in (app, web)} == before
    assert json.loads(state_path(world).read_text())["version"] == 1


def test_future_state_version_is_set_aside_too(world: World) -> None:
    two_stacks(world)
    state_path(world).write_text(json.dumps({"version": 99}))
    done = once(world)
    assert done.returncode == 0, done.stderr
    [warning] = [e for e in events(done) if e["event"] == "state"]
    assert "newer gitops-compose" in warning["warning"]


def test_two_once_runs_at_the_same_time_one_works_one_exits_3(world: World) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app")
    command = [*world.run_command(), "--once"]
    slow = world.env({"GITOPS_E2E_SLOW_COMPOSE": "3"})
    first = subprocess.Popen(command, env=slow, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    second = subprocess.run(
        command, env=slow, capture_output=True, text=True, timeout=60, check=False
    )
    _, first_err = first.communicate(timeout=120)

    assert first.returncode == 0, first_err
    assert second.returncode == 3
    [line] = second.stderr.strip().splitlines()
    assert "another check holds the lock" in line
    assert running(world, app)


def test_stopped_by_hand_stays_stopped_unless_self_heal(world: World) -> None:
    app, _ = two_stacks(world)
    world.docker("compose", "--project-name", app, "stop")
    world.clear_calls()

    quiet = once(world)
    # Left stopped, but not called fine: the check says so, and cron hears it.
    assert quiet.returncode == 1
    assert not running(world, app)
    [entry] = [each for each in status(world)["stacks"] if each["stack"] == app]
    assert (entry["status"], entry["running"]) == ("not_running", False)
    # A check that runs no Compose command asks nothing of Compose, not even its version:
    # one look at the containers is all.
    assert [call.split()[0] for call in world.docker_calls()] == ["ps"]

    healed = once(world, "--self-heal")
    assert healed.returncode == 0, healed.stderr
    assert running(world, app)
    [start] = stack_events(healed, app)
    assert start["reason"].startswith("not running: app exited")


def test_a_daemon_starts_with_a_full_pass_even_with_state(world: World) -> None:
    app, _ = two_stacks(world)
    world.docker("compose", "--project-name", app, "stop")
    assert once(world).returncode == 1  # not running, and left so by --once
    assert not running(world, app)

    daemon = subprocess.Popen(
        [*world.run_command(), "--interval", "30", "--no-metrics"],
        env=world.env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not running(world, app) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert running(world, app)
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "not running: app exited" in stderr
