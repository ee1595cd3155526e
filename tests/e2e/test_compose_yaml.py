"""Compose files read as Compose reads them, deployed on the real engine."""

from __future__ import annotations

import json
import time
import uuid

from .harness import IMAGE_V1, World
from .test_cron_and_plan import by_stack, status
from .test_reconcile import once


def service(name: str, extra: str = "") -> str:
    command = json.dumps(["sh", "-c", "sleep 3600"])
    return (
        f"  {name}:\n    image: {IMAGE_V1}\n    network_mode: none\n    init: true\n"
        f"    command: {command}\n{extra}"
    )


def bomb() -> str:
    lines = ['x-a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\nservices:\n" + service("web", "    volumes: *a8\n")


def test_yaml_1_2_services_and_reset_deploy_as_compose_reads_them(world: World) -> None:
    stack = f"yaml{uuid.uuid4().hex[:8]}"
    # Services named on and yes (YAML 1.1 booleans, YAML 1.2 strings); an ignore label of
    # "yes", which is not "true"; a second document and an override file that !reset a
    # service Compose then does not start.
    world.pusher.write(
        f"{stack}/compose.yaml",
        "services:\n"
        + service("on", "    labels: {gitops.ignore: yes}\n")
        + service("yes")
        + "---\nservices:\n"
        + service("debug"),
    )
    world.pusher.write(f"{stack}/compose.override.yaml", "services:\n  debug: !reset {}\n")
    broken = f"bomb{uuid.uuid4().hex[:8]}"
    world.pusher.write(f"{broken}/compose.yaml", bomb())
    world.pusher.commit_and_push("a YAML 1.2 stack and an alias bomb")

    started = time.monotonic()
    done = once(world)
    elapsed = time.monotonic() - started

    assert done.returncode == 1, done.stderr  # the bomb's stack failed, alone
    found = {c["service"]: c["state"] for c in world.containers(stack)}
    assert found == {"on": "running", "yes": "running"}
    assert world.containers(broken) == []
    stacks = by_stack(status(world))
    assert stacks[stack]["status"] == "ok"
    assert "document contains excessive aliasing" in json.dumps(stacks[broken])
    assert elapsed < 60  # the bomb costs milliseconds, not the check
