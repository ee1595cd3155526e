"""Only what changed is recreated, on the real engine: Compose recreates the services whose
configuration changed, and the tool recreates by name those whose mounted files changed;
the other services keep their containers."""

from __future__ import annotations

import uuid

from .harness import IMAGE_V1, World
from .test_reconcile import once, stack_events


def two_services(image: str = IMAGE_V1) -> str:
    service = """  {name}:
    image: {image}
    network_mode: none
    init: true
    command: ["sh", "-c", "sleep 3600"]
    environment:
      GREETING: ${{{variable}:-none}}
    volumes:
      - ./{name}.conf:/etc/{name}.conf:ro
"""
    return "services:\n" + "".join(
        service.format(name=name, image=image, variable=variable)
        for name, variable in (("web", "WEB_GREETING"), ("api", "API_GREETING"))
    )


def container_ids(world: World, path: str) -> dict[str, str]:
    return {c["service"]: c["id"] for c in world.containers(path)}


def test_only_the_service_whose_mounted_file_or_variable_changed_is_recreated(
    world: World,
) -> None:
    path = f"duo{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", two_services())
    world.pusher.write(f"{path}/web.conf", "web 1\n")
    world.pusher.write(f"{path}/api.conf", "api 1\n")
    world.pusher.write(f"{path}/.env", "WEB_GREETING=hello\nAPI_GREETING=hi\n")
    world.pusher.commit_and_push("two services")
    assert once(world).returncode == 0
    before = container_ids(world, path)

    world.pusher.write(f"{path}/api.conf", "api 2\n")
    world.pusher.commit_and_push("api's config")
    done = once(world)

    assert done.returncode == 0, done.stderr
    [event] = stack_events(done, path)
    assert event["reason"] == f"changed: {path}/api.conf → api"
    after = container_ids(world, path)
    assert after["web"] == before["web"]
    assert after["api"] != before["api"]
    assert world.exec(path, "api", "cat /etc/api.conf").strip() == "api 2"

    world.pusher.write(f"{path}/.env", "WEB_GREETING=bonjour\nAPI_GREETING=hi\n")
    world.pusher.commit_and_push("web's variable")
    assert once(world).returncode == 0
    last = container_ids(world, path)
    assert last["api"] == after["api"]
    assert last["web"] != after["web"]
    assert world.exec(path, "web", "echo $GREETING").strip() == "bonjour"
