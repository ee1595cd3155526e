"""The e2e harness itself, on the real engine and git: no gitops_compose involved."""

from __future__ import annotations

import json
import subprocess

from .harness import IMAGE_V1, IMAGE_V2, World, git, stack_yaml


def _wrapped(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=world.env(), capture_output=True, text=True, check=False
    )


def test_pushes_reach_the_host_clone(world: World) -> None:
    assert git(world.host, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    world.pusher.write("web/compose.yaml", stack_yaml())
    first = world.pusher.commit_and_push("Add web")
    world.pusher.move("web", "site")
    moved = world.pusher.commit_and_push("Rename web to site")
    git(world.host, "pull", "-q", "--ff-only")
    assert git(world.host, "rev-parse", "HEAD") == moved
    assert (world.host / "site" / "compose.yaml").read_text() == stack_yaml()
    assert not (world.host / "web").exists()

    world.pusher.remove("site")
    rewritten = world.pusher.force_push_rewrite()
    assert rewritten != moved
    assert git(world.origin, "rev-parse", "main") == rewritten
    assert git(world.origin, "rev-parse", "main~1") == first
    # The host's commit is no longer in origin's history: a rewritten branch.
    git(world.host, "fetch", "-q")
    ancestry = subprocess.run(
        ["git", "merge-base", "--is-ancestor", moved, "origin/main"], cwd=world.host, check=False
    )
    assert ancestry.returncode == 1


def test_wrapper_logs_calls_and_injects_down_failure(world: World) -> None:
    victim, bystander = world.names("victim", "bystander")
    assert _wrapped(world, "version", "--format", "{{.Client.Version}}").returncode == 0
    world.fail_down(victim)
    failed = _wrapped(world, "compose", "-p", victim, "down", "--remove-orphans")
    assert failed.returncode == 1
    assert f"injected failure: down {victim}" in failed.stderr
    # Other projects and other commands still reach docker.
    assert _wrapped(world, "compose", "--project-name", bystander, "down").returncode == 0
    assert _wrapped(world, "compose", "-p", victim, "ls").returncode == 0
    world.fail_down(None)
    assert _wrapped(world, "compose", "-p", victim, "down").returncode == 0

    assert world.docker_calls() == [
        "version --format {{.Client.Version}}",
        f"compose -p {victim} down --remove-orphans",
        f"compose --project-name {bystander} down",
        f"compose -p {victim} ls",
        f"compose -p {victim} down",
    ]
    assert len(world.compose_calls()) == 4
    world.clear_calls()
    assert world.docker_calls() == []


def test_compose_stack_runs_and_cleanup_removes_it(world: World) -> None:
    stack = world.tmp / "stack"
    stack.mkdir()
    (stack / "compose.yaml").write_text(
        stack_yaml(
            "cat /VERSION; exec sleep 3600",
            image=IMAGE_V2,
            extra="volumes: [data:/data]",
            top="volumes: {data: {}}",
        )
    )
    project = f"harness-{world.host.name}"
    world.docker("compose", "-p", project, "--project-directory", str(stack), "up", "-d")
    [app] = world.containers(project)
    assert (app["service"], app["state"], app["image"]) == ("app", "running", IMAGE_V2)
    assert world.exec(project, "app", "cat /VERSION").strip() == "2"
    assert world.exec(project, "app", ["ls", "/data"]) == ""
    assert world.volume_exists(f"{project}_data")

    world.cleanup()
    assert world.containers(project) == []
    assert not world.volume_exists(f"{project}_data")


def test_stack_yaml_defaults() -> None:
    text = stack_yaml()
    assert f"image: {IMAGE_V1}" in text
    assert "network_mode: none" in text


def test_the_compose_plugin_the_cli_names_is_the_wrapper_too(world: World) -> None:
    victim = world.name("victim")
    listed = _wrapped(world, "info", "--format", "{{json .ClientInfo.Plugins}}")
    plugin = next(each["Path"] for each in json.loads(listed.stdout) if each["Name"] == "compose")
    assert world.docker_config is not None
    assert plugin == str(world.docker_config / "cli-plugins" / "docker-compose")

    world.fail_down(victim)
    direct = subprocess.run(
        [plugin, "-p", victim, "down"],
        env=world.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert direct.returncode == 1
    assert f"injected failure: down {victim}" in direct.stderr
    world.fail_down(None)
    # Through `docker compose`, the call is counted once, by the wrapper in front of docker.
    assert _wrapped(world, "compose", "-p", victim, "ls").returncode == 0
    assert world.compose_calls() == [f"compose -p {victim} down", f"compose -p {victim} ls"]
