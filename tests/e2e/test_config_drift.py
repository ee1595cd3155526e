"""What runs is what the repository says: a stack running another configuration is not
adopted as it is, and drift later shows in the plan and is healed with --self-heal; on the
real engine."""

from __future__ import annotations

import hashlib
import json
import stat

from .harness import IMAGE_V1, IMAGE_V2, World, git, metric_samples, stack_yaml
from .test_cron_and_plan import by_stack, status
from .test_reconcile import ids, once, stack_commands, stack_events

TWO_SERVICES = stack_yaml() + stack_yaml(service="other").split("services:\n", 1)[1]


def _on_host(world: World, message: str) -> None:
    """The host's clone already at the pushed commit, as on a host migrating to the tool."""
    world.pusher.commit_and_push(message)
    git(world.host, "pull", "-q")


def test_a_project_started_from_elsewhere_with_another_image_is_deployed(world: World) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml(image=IMAGE_V2))
    _on_host(world, "app on busybox 2")
    manual = world.tmp / "manual"
    manual.mkdir()
    (manual / "compose.yaml").write_text(stack_yaml(image=IMAGE_V1))
    world.docker("compose", "-p", app, "-f", str(manual / "compose.yaml"), "up", "-d")

    first = once(world)

    assert first.returncode == 0, first.stderr
    assert "drift: app runs other configuration than" in first.stderr
    assert [c["image"] for c in world.containers(app)] == [IMAGE_V2]
    status = json.loads(world.run("status", "--format", "json").stdout)
    assert {e["stack"]: e["status"] for e in status["stacks"]}[app] == "ok"


def test_a_project_started_by_hand_with_the_repositorys_files_is_adopted_as_it_runs(
    world: World,
) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    _on_host(world, "app")
    directory = world.host / app
    world.docker(
        "compose", "-p", app, "--project-directory", str(directory),
        "-f", str(directory / "compose.yaml"), "up", "-d",
    )  # fmt: skip
    before = ids(world, app)
    world.clear_calls()

    first = once(world)

    assert first.returncode == 0, first.stderr
    assert ids(world, app) == before
    assert [call for call in stack_commands(world) if " up " in f" {call} "] == []
    assert any("config --hash" in call for call in world.compose_calls())


def test_drift_later_shows_in_the_plan_and_self_heal_recreates_only_that_service(
    world: World,
) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", TWO_SERVICES)
    world.pusher.commit_and_push("two services")
    assert once(world).returncode == 0
    world.clear_calls()
    idle = once(world)
    assert idle.returncode == 0, idle.stderr
    # With the hashes kept, an idle check still makes one docker ps and no Compose call.
    assert [call.split(" ", 1)[0] for call in world.docker_calls()] == ["ps"]
    directory = world.host / app
    edited = world.tmp / "edited.yaml"
    edited.write_text(stack_yaml(extra="environment: [EDITED=1]") + "")
    world.docker(
        "compose", "-p", app, "--project-directory", str(directory),
        "-f", str(edited), "up", "-d", "--no-deps", "app",
    )  # fmt: skip
    kept = {c["service"]: c["id"] for c in world.containers(app)}
    metrics = world.tmp / "gitops.prom"

    reported = once(world, "--metrics-file", str(metrics))

    assert reported.returncode == 1, reported.stderr
    assert {c["service"]: c["id"] for c in world.containers(app)} == kept  # left alone
    status = json.loads(world.run("status", "--format", "json").stdout)
    entry = {e["stack"]: e for e in status["stacks"]}[app]
    assert entry["status"] == "drifted"
    assert entry["drifted"] == ["app"]
    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_drift{{project={app},stack={app}}}"] == 1

    planned = world.run("plan", "--format", "json")

    assert planned.returncode == 1, planned.stderr
    entries = {entry["stack"]: entry for entry in json.loads(planned.stdout)["stacks"]}
    assert entries[app]["action"] == "drift"
    assert entries[app]["reason"].startswith("drifted: app runs other configuration than")

    healed = once(world, "--self-heal")

    assert healed.returncode == 0, healed.stderr
    now = {c["service"]: c["id"] for c in world.containers(app)}
    assert now["other"] == kept["other"]
    assert now["app"] != kept["app"]
    assert world.run("plan").returncode == 0
    final = once(world, "--metrics-file", str(metrics))
    assert final.returncode == 0, final.stderr
    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_drift{{project={app},stack={app}}}"] == 0


def test_after_a_rollback_no_drift_is_reported(world: World) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app")
    assert once(world, "--settle", "1").returncode == 0
    crashing = stack_yaml("sleep 1; exit 1", image=IMAGE_V2, extra="restart: unless-stopped")
    world.pusher.write(f"{app}/compose.yaml", crashing)
    world.pusher.commit_and_push("a release that crashes")
    rolled = once(world, "--settle", "4")
    assert rolled.returncode == 1, rolled.stderr
    [event] = stack_events(rolled, app)
    assert str(event["error"]).startswith("rolled back to "), event
    # It runs its last good files, from a directory of their own, not the newest files.
    assert [c["image"] for c in world.containers(app)] != [IMAGE_V2]
    before = ids(world, app)
    metrics = world.tmp / "gitops.prom"
    world.clear_calls()

    healing = once(world, "--self-heal", "--metrics-file", str(metrics))

    assert "drift" not in healing.stderr
    assert [call for call in stack_commands(world) if " up " in f" {call} "] == []
    assert ids(world, app) == before
    record = by_stack(status(world))[app]
    assert record["drifted"] == []
    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_drift{{project={app},stack={app}}}"] == 0
    planned = json.loads(world.run("plan", "--format", "json").stdout)
    entry = {each["stack"]: each for each in planned["stacks"]}[app]
    assert "drift" not in f"{entry['action']} {entry['reason']}"


def test_a_changed_environment_value_is_asked_again_and_deployed_only_on_a_full_pass(
    world: World,
) -> None:
    app = world.name("app")
    variable = f"GITOPS_E2E_IMAGE_{app.replace('-', '_').upper()}"
    world.pusher.write(f"{app}/compose.yaml", stack_yaml(image=f"${{{variable}}}"))
    world.pusher.commit_and_push("app, its image from the environment")
    assert world.run("--once", "--log-format", "json", env={variable: IMAGE_V1}).returncode == 0
    assert [c["image"] for c in world.containers(app)] == [IMAGE_V1]
    state = json.loads((world.host / ".git" / "gitops-compose" / "state.json").read_text())
    kept = state["configs"][app]
    assert kept["variables"] == [variable]
    assert IMAGE_V1 not in json.dumps(kept)  # the values are kept as a hash
    # ... under a key of the host, owner-only: not a plain hash a guess can be checked by.
    plain = hashlib.sha256(f"{variable}\0={IMAGE_V1}\0".encode()).hexdigest()
    assert plain not in json.dumps(state)
    key = world.host / ".git" / "gitops-compose" / "environment.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    world.clear_calls()

    idle = world.run("--once", "--log-format", "json", env={variable: IMAGE_V2})

    assert idle.returncode == 0, idle.stderr
    assert [call.split(" ", 1)[0] for call in world.docker_calls()] == ["ps"]
    assert [c["image"] for c in world.containers(app)] == [IMAGE_V1]
    world.clear_calls()

    healed = world.run("--once", "--log-format", "json", "--self-heal", env={variable: IMAGE_V2})

    assert healed.returncode == 0, healed.stderr
    asked = [call for call in world.compose_calls() if " config --hash " in f" {call} "]
    assert len(asked) == 1
    assert "drift: app runs other configuration than" in healed.stderr
    assert [c["image"] for c in world.containers(app)] == [IMAGE_V2]
    world.clear_calls()
    again = world.run("--once", "--log-format", "json", "--self-heal", env={variable: IMAGE_V2})
    assert again.returncode == 0, again.stderr
    assert [call for call in world.compose_calls() if "compose version" not in call] == []
