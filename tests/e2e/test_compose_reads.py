"""On the real engine: the services Compose starts are the ones the tool expects, and a
file Compose reads through ``extends`` or ``include`` restarts the stack when it changes."""

from __future__ import annotations

import json
import uuid

from .harness import IMAGE_V1, World, stack_yaml
from .test_reconcile import once, stack_commands


def statuses(world: World) -> dict[str, str]:
    done = world.run("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {entry["stack"]: entry["status"] for entry in json.loads(done.stdout)["stacks"]}


def service(name: str, extra: str = "") -> str:
    """One service of stack_yaml's shape, under ``services:``."""
    body = stack_yaml(service=name, extra=extra).split("\n", 1)[1]
    return body


def test_profiles_from_the_env_and_zero_replicas_are_what_compose_starts(world: World) -> None:
    path = f"profiles{uuid.uuid4().hex[:6]}"
    world.pusher.write(
        f"{path}/compose.yaml",
        "services:\n"
        + service("web")
        + service("debug", "profiles: [debug]")
        + service("ops", "profiles: [ops]")
        + service("spare", "scale: 0")
        + service("workers", "deploy: {replicas: '${WORKERS:-0}'}"),
    )
    world.pusher.write(f"{path}/.env", "COMPOSE_PROFILES=debug\n")
    world.pusher.commit_and_push("a stack with profiles and replicas of 0")

    first = once(world)
    assert first.returncode == 0, first.stderr
    running = {c["service"] for c in world.containers(path) if c["state"] == "running"}
    assert running == {"web", "debug"}
    assert statuses(world)[path] == "ok"
    planned = world.run("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr

    world.pusher.write(f"{path}/.env", "COMPOSE_PROFILES=debug\nWORKERS=1\n")
    world.pusher.commit_and_push("one worker")
    world.clear_calls()
    second = once(world)
    assert second.returncode == 0, second.stderr
    assert any(f"--project-name {path} " in call for call in stack_commands(world))
    running = {c["service"] for c in world.containers(path) if c["state"] == "running"}
    assert running == {"web", "debug", "workers"}
    assert statuses(world)[path] == "ok"

    # The profile's service is one the stack must run: without it, the stack does not run.
    world.docker("rm", "-f", *[c["id"] for c in world.containers(path) if c["service"] == "debug"])
    third = once(world)
    assert third.returncode == 1, third.stderr
    assert statuses(world)[path] == "not_running"
    assert "not running: debug has no container" in world.run("plan").stdout


def test_an_edit_of_a_file_an_extended_or_included_service_reads_restarts_the_stack(
    world: World,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    app, other = f"app{suffix}", f"other{suffix}"
    world.pusher.write(
        f"{app}/compose.yaml",
        "include: [../lib/cache.yaml]\n"
        "services:\n"
        "  web:\n"
        "    extends: {file: ../base/base.yml, service: web}\n",
    )
    world.pusher.write(
        "base/base.yml",
        f"services:\n  web:\n    image: {IMAGE_V1}\n    network_mode: none\n    init: true\n"
        "    command: ['sh', '-c', 'sleep 3600']\n    env_file: web.env\n",
    )
    world.pusher.write("base/web.env", "GREETING=hello\n")
    world.pusher.write(
        "lib/cache.yaml", "services:\n" + service("cache", "environment: {PORT: '${PORT}'}")
    )
    world.pusher.write("lib/.env", "PORT=6379\n")
    world.pusher.write(f"{other}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("a stack that extends and includes")
    first = once(world)
    assert first.returncode == 0, first.stderr
    assert world.exec(app, "web", "echo $GREETING").strip() == "hello"
    assert world.exec(app, "cache", "echo $PORT").strip() == "6379"

    world.pusher.write("base/web.env", "GREETING=bonjour\n")
    world.pusher.commit_and_push("another greeting")
    planned = world.run("plan")
    assert f"restart  {app}" in planned.stdout, planned.stdout
    assert "changed: base/web.env" in planned.stdout
    assert other not in planned.stdout
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert world.exec(app, "web", "echo $GREETING").strip() == "bonjour"

    world.pusher.write("lib/.env", "PORT=6380\n")
    world.pusher.commit_and_push("another port")
    planned = world.run("plan")
    assert "changed: lib/.env" in planned.stdout, planned.stdout
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert world.exec(app, "cache", "echo $PORT").strip() == "6380"
    assert set(statuses(world).values()) == {"ok"}
