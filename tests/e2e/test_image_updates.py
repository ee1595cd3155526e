"""Image updates of mutable tags on the real engine and the local registry: a tag pushed
anew restarts exactly the services using it, an unchanged one downloads nothing, one
request per distinct tag, a registry that cannot be reached is a warning, a digest waits
out the cool-down, and the state records the digest each service runs."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_compose.shell.registry import insecure_of_engine

from .harness import IMAGE_V1, IMAGE_V2, World, stack_yaml
from .test_cron_and_plan import state_path
from .test_reconcile import events, ids, once, stack_commands

REGISTRY_LOG = Path("/var/tmp/gitops-engine/registry.log")
# Asked on every check: the registries are asked when the interval has passed.
EVERY_CHECK = ("--image-interval", "1")


@pytest.fixture
def tags(world: World) -> Iterator[list[str]]:
    """Local tags this test made: once its containers are gone, every local reference to
    their repositories (tags, and the digests Docker recorded) is removed, and with it an
    image only they named; the shared images stay."""
    made: list[str] = []
    yield made
    world.cleanup()
    for name in sorted({each.rsplit(":", 1)[0] for each in made}):
        listed = world.docker(
            "image", "ls", "--digests", "--format", "{{.Tag}}\t{{.Digest}}", name
        ).stdout
        for line in listed.splitlines():
            tag, _, digest = line.partition("\t")
            if tag and tag != "<none>":
                world.docker("image", "rm", f"{name}:{tag}", check=False)
            if digest and digest != "<none>":
                world.docker("image", "rm", f"{name}@{digest}", check=False)


def repository(world: World, base: str) -> str:
    """A repository of this test alone in the local registry."""
    return f"127.0.0.1:5000/gitops-test/{base}-{world.tag}"


def push(world: World, tags: list[str], source: str, target: str) -> str:
    """``source`` pushed as ``target``: the registry's digest for it."""
    world.docker("tag", source, target)
    tags.append(target)
    world.docker("push", "-q", target)
    found = world.docker("image", "inspect", "--format", "{{json .RepoDigests}}", target)
    name = target.rsplit(":", 1)[0]
    listed: list[str] = json.loads(found.stdout)
    return next(d for d in listed if d.startswith(f"{name}@")).split("@")[1]


def image_id(world: World, image: str) -> str:
    return world.docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


def runs(world: World, container: str) -> str:
    """The id of the image a container runs."""
    return world.docker("inspect", "--format", "{{.Image}}", container).stdout.strip()


def registry_lines(since: int, name: str) -> list[str]:
    """The registry's access log lines since byte ``since`` about repository ``name``."""
    with REGISTRY_LOG.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    path = name.split("/", 1)[1]
    return [line for line in text.splitlines() if f"/v2/{path}/" in line]


def log_size() -> int:
    return REGISTRY_LOG.stat().st_size


def saved_state(world: World) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(state_path(world).read_text())
    return found


def two_services(image: str) -> str:
    """A stack following its images: ``web`` on ``image``, ``other`` on IMAGE_V1."""
    web = stack_yaml(image=image, service="web")
    other = stack_yaml(image=IMAGE_V1, service="other").replace("services:\n", "")
    return f"{web}{other}x-gitops: {{image_updates: true}}\n"


def test_a_new_digest_restarts_exactly_the_services_using_it(world: World, tags: list[str]) -> None:
    app = repository(world, "app")
    old = push(world, tags, IMAGE_V1, f"{app}:latest")
    stack, still = world.names("follow", "still")
    world.pusher.write(f"{stack}/compose.yaml", two_services(f"{app}:latest"))
    world.pusher.write(f"{still}/compose.yaml", stack_yaml(image=IMAGE_V1))
    world.pusher.commit_and_push("two stacks, one following its images")
    first = once(world, *EVERY_CHECK)
    assert first.returncode == 0, first.stderr
    before = {c["service"]: c["id"] for c in world.containers(stack)}
    still_before = ids(world, still)
    # The registry alone knows: the tag is pushed anew, and the host's tag moved back.
    new = push(world, tags, IMAGE_V2, f"{app}:latest")
    world.docker("tag", IMAGE_V1, f"{app}:latest")
    assert new != old
    time.sleep(1.1)

    done = once(world, *EVERY_CHECK)

    assert done.returncode == 0, done.stderr
    after = {c["service"]: c["id"] for c in world.containers(stack)}
    assert after["other"] == before["other"]
    assert after["web"] != before["web"]
    assert ids(world, still) == still_before
    [web] = [c for c in world.containers(stack) if c["service"] == "web"]
    assert runs(world, web["id"]) == image_id(world, IMAGE_V2)
    planned = [e for e in events(done) if e["event"] == "stack" and e.get("stack") == stack]
    assert planned, done.stderr
    reason = str(planned[0]["reason"])
    assert reason.startswith(f"image updated: web {app}:latest sha256:"), reason
    assert f"{old[7:19]}… → sha256:{new[7:19]}…" in reason
    # Recorded: the digest the state keeps is the one Docker says the container runs.
    record = saved_state(world)["stacks"][stack]
    assert record["images"]["web"] == image_id(world, IMAGE_V2)
    assert record["digests"]["web"] == f"{app}@{new}"
    inspected = world.docker(
        "image", "inspect", "--format", "{{json .RepoDigests}}", runs(world, web["id"])
    )
    assert record["digests"]["web"] in json.loads(inspected.stdout)
    shown = world.run("status")
    assert f"{app}@{new}" in shown.stdout

    world.clear_calls()
    quiet = once(world, *EVERY_CHECK)
    assert quiet.returncode == 0, quiet.stderr
    assert stack_commands(world) == []


def test_nothing_changed_restarts_nothing_and_downloads_nothing(
    world: World, tags: list[str]
) -> None:
    app = repository(world, "same")
    push(world, tags, IMAGE_V1, f"{app}:stable")
    stack = world.name("same")
    world.pusher.write(f"{stack}/compose.yaml", stack_yaml(image=f"{app}:stable"))
    world.pusher.commit_and_push("a stack following its image")
    assert once(world, "--image-updates", *EVERY_CHECK).returncode == 0
    before = ids(world, stack)
    time.sleep(1.1)
    world.clear_calls()
    mark = log_size()

    done = once(world, "--image-updates", *EVERY_CHECK)

    assert done.returncode == 0, done.stderr
    assert ids(world, stack) == before
    assert stack_commands(world) == []
    asked = registry_lines(mark, app)
    assert len(asked) == 1, asked
    assert asked[0].split('"')[1].startswith(f"HEAD /v2/{app.split('/', 1)[1]}/manifests/stable")
    assert not [line for line in asked if "/blobs/" in line]

    # Between two intervals: no registry request, no docker call beyond the idle check's.
    world.clear_calls()
    mark = log_size()
    idle = once(world, "--image-updates", "--image-interval", "3600")
    assert idle.returncode == 0, idle.stderr
    assert registry_lines(mark, app) == []
    assert [call.split()[0] for call in world.docker_calls()] == ["ps"]


def test_one_request_per_distinct_tag_for_fifty_stacks(world: World, tags: list[str]) -> None:
    names = [repository(world, f"many{index}") for index in range(3)]
    for name in names:
        push(world, tags, IMAGE_V1, f"{name}:latest")
    for index in range(50):
        image = f"{names[index % 3]}:latest"
        world.pusher.write(f"{world.name(f's{index:02d}')}/compose.yaml", stack_yaml(image=image))
    world.pusher.commit_and_push("fifty stacks, three tags")
    deployed = world.run("--once", "--log-format", "json", "--jobs", "8", timeout=600)
    assert deployed.returncode == 0, deployed.stderr
    time.sleep(1.1)
    mark = log_size()

    done = once(world, "--image-updates", *EVERY_CHECK)

    assert done.returncode == 0, done.stderr
    asked = [line for name in names for line in registry_lines(mark, name)]
    assert 0 < len(asked) <= 3, asked
    [checked] = [e for e in events(done) if e["event"] == "images" and "tags" in e]
    assert checked["tags"] == 3


def test_down_registry_warns_exits_zero_and_restarts_nothing(world: World, tags: list[str]) -> None:
    stack = world.name("down")
    image = f"127.0.0.1:9/gitops-test/down-{world.tag}:1"
    world.docker("tag", IMAGE_V1, image)
    tags.append(image)
    world.pusher.write(
        f"{stack}/compose.yaml",
        stack_yaml(image=image, extra="pull_policy: missing"),
    )
    world.pusher.commit_and_push("a stack whose registry is down")
    assert once(world).returncode == 0
    before = ids(world, stack)
    world.clear_calls()

    done = once(world, "--image-updates", *EVERY_CHECK)

    assert done.returncode == 0, done.stderr
    assert ids(world, stack) == before
    assert stack_commands(world) == []
    warned = [e for e in events(done) if e["event"] == "images" and e.get("stack") == stack]
    assert warned, done.stderr
    assert "could not be reached" in str(warned[0]["reason"])
    planned = world.run("plan", "--images", "--image-updates")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"warning  {stack} ({image}:" in planned.stdout


def test_an_image_pinned_by_digest_is_never_asked_about(world: World, tags: list[str]) -> None:
    app = repository(world, "pinned")
    digest = push(world, tags, IMAGE_V1, f"{app}:1")
    stack = world.name("pinned")
    world.pusher.write(f"{stack}/compose.yaml", stack_yaml(image=f"{app}:1@{digest}"))
    world.pusher.commit_and_push("a stack pinned by digest")
    assert once(world).returncode == 0
    time.sleep(1.1)
    mark = log_size()

    done = once(world, "--image-updates", *EVERY_CHECK)

    assert done.returncode == 0, done.stderr
    assert registry_lines(mark, app) == []


def test_a_new_digest_waits_out_the_cooldown(world: World, tags: list[str]) -> None:
    app = repository(world, "cool")
    push(world, tags, IMAGE_V1, f"{app}:latest")
    stack = world.name("cool")
    world.pusher.write(f"{stack}/compose.yaml", stack_yaml(image=f"{app}:latest"))
    world.pusher.commit_and_push("a stack following its image")
    following = ("--image-updates", *EVERY_CHECK, "--image-cooldown", "4s")
    assert once(world, *following).returncode == 0
    before = ids(world, stack)
    push(world, tags, IMAGE_V2, f"{app}:latest")
    world.docker("tag", IMAGE_V1, f"{app}:latest")
    time.sleep(1.1)

    seen = once(world, *following)

    assert seen.returncode == 0, seen.stderr
    assert ids(world, stack) == before  # seen for less than the cool-down
    planned = world.run("plan", "--images", *following)
    assert f"cooling  {stack} app ({app}:latest" in planned.stdout, planned.stdout
    time.sleep(4)

    taken = once(world, *following)

    assert taken.returncode == 0, taken.stderr
    assert ids(world, stack) != before
    [container] = world.containers(stack)
    assert runs(world, container["id"]) == image_id(world, IMAGE_V2)


def test_an_image_update_that_fails_its_gate_goes_back_to_the_image_by_id(
    world: World, tags: list[str]
) -> None:
    app = repository(world, "sick")
    push(world, tags, IMAGE_V1, f"{app}:latest")
    stack = world.name("sick")
    world.pusher.write(f"{stack}/compose.yaml", stack_yaml(image=f"{app}:latest"))
    world.pusher.commit_and_push("a stack following its image")
    gate = ("--image-updates", *EVERY_CHECK, "--health-timeout", "20")
    assert once(world, *gate).returncode == 0
    good = image_id(world, IMAGE_V1)
    # The tag's new image never gets healthy; the host's tag moves back to the old one.
    unhealthy = "HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false"
    context = world.tmp / "sick-image"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {IMAGE_V2}\n{unhealthy}\n")
    built = world.docker("build", "-q", "-t", f"{app}:latest", str(context)).stdout.strip()
    try:
        world.docker("push", "-q", f"{app}:latest")
        world.docker("tag", IMAGE_V1, f"{app}:latest")
        time.sleep(1.1)

        done = once(world, *gate)

        assert done.returncode == 1, done.stderr
        [container] = world.containers(stack)
        assert runs(world, container["id"]) == good
        assert container["state"] == "running"
        record = saved_state(world)["stacks"][stack]
        assert record["status"] == "error"
        assert str(record["error"]).startswith("rolled back to ")
    finally:
        world.cleanup()
        world.docker("image", "rm", "-f", built, check=False)


def test_the_engines_insecure_registries_are_read_from_docker_info(engine: str) -> None:
    # The engine's own answer, in the shape a real `docker info` gives it: its default
    # insecure network is loopback, which the registry of these tests sits on.
    insecure = insecure_of_engine(engine)
    assert ipaddress.ip_network("127.0.0.0/8") in insecure.networks
