"""Order between stacks and parallel apply, on the real engine: a proxy whose network other
stacks use, and a dozen stacks deployed four at a time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .harness import IMAGE_V1, IMAGE_V2, MISSING_IMAGE, World, stack_yaml


def once(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return world.run("--once", "--log-format", "json", *args)


def events(done: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return [each for each in found if each["event"] == name]


def running(world: World, project: str) -> bool:
    found = world.containers(project)
    return bool(found) and all(c["state"] == "running" for c in found)


def on_network(image: str, network: str, *, creates: bool) -> str:
    external = "" if creates else "\n    external: true"
    return (
        f"services:\n  web:\n    image: {image}\n    init: true\n"
        '    command: ["sh", "-c", "sleep 3600"]\n    networks: [proxy]\n'
        f"networks:\n  proxy:\n    name: {network}{external}\n"
    )


def push_proxy_and_users(
    world: World, network: str, proxy_image: str = IMAGE_V1
) -> tuple[str, ...]:
    """Stacks reverse_proxy, app and blog of this test; returns their names."""
    # app/ and blog/ come before reverse_proxy/ in path order: only the order between
    # stacks starts them after the stack that creates their network.
    reverse_proxy, app, blog = world.names("reverse_proxy", "app", "blog")
    world.pusher.write(
        f"{reverse_proxy}/compose.yaml", on_network(proxy_image, network, creates=True)
    )
    for user in (app, blog):
        world.pusher.write(f"{user}/compose.yaml", on_network(IMAGE_V1, network, creates=False))
    return reverse_proxy, app, blog


def test_users_of_a_network_start_after_its_stack_stop_before_it_and_wait_for_its_fix(
    world: World,
) -> None:
    network = f"e2e-proxy-{world.host.name}"
    reverse_proxy, app, blog = push_proxy_and_users(world, network)
    world.pusher.commit_and_push("a proxy and two stacks behind it")

    done = once(world)

    assert done.returncode == 0, done.stderr
    for project in (reverse_proxy, app, blog):
        assert running(world, project), project
    started = [each["stack"] for each in events(done, "stack")]
    assert started.index(reverse_proxy) < min(started.index(app), started.index(blog))

    for path in (reverse_proxy, app, blog):
        world.pusher.remove(path)
    world.pusher.commit_and_push("all three gone")
    world.clear_calls()

    done = once(world)

    assert done.returncode == 0, done.stderr
    assert [e["outcome"] for e in events(done, "stack")] == ["ok", "ok", "ok"]
    downs = [call for call in world.compose_calls() if call.endswith("down --remove-orphans")]
    assert reverse_proxy in downs[-1]
    for project in (reverse_proxy, app, blog):
        assert world.containers(project) == [], project
    assert world.docker("network", "inspect", network, check=False).returncode != 0

    push_proxy_and_users(world, network, proxy_image=MISSING_IMAGE)
    world.pusher.commit_and_push("the proxy's image is missing")
    world.clear_calls()

    done = once(world)

    assert done.returncode == 1
    outcomes = {e["stack"]: e for e in events(done, "stack")}
    assert outcomes[reverse_proxy]["outcome"] == "error"
    for user in (app, blog):
        assert outcomes[user]["outcome"] == "error"
        assert outcomes[user]["error"] == f"waiting for {reverse_proxy}, which failed"
        assert world.containers(user) == []
    ups = [call for call in world.compose_calls() if " up " in call]
    assert len(ups) == 1
    assert reverse_proxy in ups[0]
    status = json.loads(world.run("status", "--format", "json").stdout)
    errors = {each["stack"]: each["last_error"] for each in status["stacks"]}
    assert errors[app] == errors[blog] == f"waiting for {reverse_proxy}, which failed"

    push_proxy_and_users(world, network)
    world.pusher.commit_and_push("the proxy's image is back")

    done = once(world)

    assert done.returncode == 0, done.stderr
    for project in (reverse_proxy, app, blog):
        assert running(world, project), project


def test_plan_shows_what_each_stack_waits_for(world: World) -> None:
    network = f"e2e-proxy-{world.host.name}"
    reverse_proxy, app, blog = push_proxy_and_users(world, network)
    world.pusher.commit_and_push("a proxy and two stacks behind it")

    text = world.run("plan").stdout.splitlines()
    document = json.loads(world.run("plan", "--format", "json").stdout)

    assert text[1:] == [
        f"start    {reverse_proxy} (new)",
        f"start    {app} (new) after {reverse_proxy}",
        f"start    {blog} (new) after {reverse_proxy}",
    ]
    after = {each["stack"]: each["after"] for each in document["stacks"]}
    assert after == {reverse_proxy: [], app: [reverse_proxy], blog: [reverse_proxy]}


def test_an_external_network_no_stack_creates_and_the_host_lacks_is_an_error_before_up(
    world: World,
) -> None:
    network = f"e2e-nobody-{world.host.name}"
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", on_network(IMAGE_V1, network, creates=False))
    world.pusher.commit_and_push("a stack on a network nobody makes")

    plan = world.run("plan")
    done = once(world)

    reason = f"network {network} is external, but no stack creates it and the host has none"
    assert f"error    {app} ({reason})" in plan.stdout
    assert done.returncode == 1
    [outcome] = events(done, "stack")
    assert outcome["error"] == reason
    assert not [call for call in world.compose_calls() if " up " in call]

    world.docker("network", "create", network)
    try:
        world.pusher.write(f"{app}/.env", "AFTER=network\n")
        world.pusher.commit_and_push("try again")
        assert once(world).returncode == 0
        assert running(world, app)
    finally:
        world.cleanup()
        world.docker("network", "rm", network, check=False)


def twelve(world: World) -> list[str]:
    return [world.name(f"s{n:02d}") for n in range(12)]


def deploy_twelve(world: World, jobs: str) -> subprocess.CompletedProcess[str]:
    for path in twelve(world):
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("twelve stacks")
    assert once(world, "--jobs", jobs).returncode == 0
    for path in twelve(world):
        world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.commit_and_push("twelve stacks changed")
    return once(world, "--jobs", jobs)


def settled(world: World) -> dict[str, Any]:
    """What a user sees once a check is over, less times and commits."""
    status = json.loads(world.run("status", "--format", "json").stdout)
    return {
        "active": status["active"],
        "deployments": status["deployments"],
        "checks": {key: status["checks"][key] for key in ("success", "error")},
        "stacks": {
            each["stack"]: (each["project"], each["status"], each["failures"], each["last_error"])
            for each in status["stacks"]
        },
        "images": {path: [c["image"] for c in world.containers(path)] for path in twelve(world)},
    }


def test_twelve_changed_stacks_four_at_a_time_end_as_one_at_a_time(
    world: World, engine: str, tmp_path_factory: Any
) -> None:
    four = deploy_twelve(world, "4")
    assert four.returncode == 0, four.stderr
    seen_four = settled(world)
    lines = [line for line in four.stderr.splitlines() if '"event": "stack"' in line]
    assert sorted(json.loads(line)["stack"] for line in lines) == twelve(world)
    assert all(json.loads(line)["action"] == "restart" for line in lines)
    world.cleanup()

    # The same stack names as the first world's, now gone, so the two compare as they are.
    one_world = World(tmp_path_factory.mktemp("one-at-a-time"), engine, tag=world.tag)
    try:
        one = deploy_twelve(one_world, "1")
        assert one.returncode == 0, one.stderr
        assert settled(one_world) == seen_four
        # One at a time keeps the plan's order: path order here.
        order = [each["stack"] for each in events(one, "stack")]
        assert order == twelve(world)
    finally:
        one_world.cleanup()
    assert seen_four["images"] == {path: [IMAGE_V2] for path in twelve(world)}


def alive(pid: int) -> bool:
    """Whether the process runs still: a zombie has ended, it only waits to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_hung_up_holds_no_other_stack_and_is_killed_with_all_it_started_at_the_timeout(
    world: World,
) -> None:
    suffix = world.host.name.removeprefix("stacks-")
    # First in path order, so it takes one of the two jobs before the others start.
    hung, others = f"a_hung_{suffix}", [f"b{n}_{suffix}" for n in range(3)]
    for path in (hung, *others):
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("four stacks, one of which will hang")
    world.hang_up(hung)

    done = once(world, "--jobs", "2", "--compose-timeout", str(TIMEOUT))

    assert done.returncode == 1, done.stderr
    stacks = events(done, "stack")
    assert [each["stack"] for each in stacks] == [*others, hung]
    assert [each["outcome"] for each in stacks] == ["ok", "ok", "ok", "error"]
    assert all(each["duration"] < TIMEOUT for each in stacks[:3])
    assert stacks[3]["duration"] >= TIMEOUT
    assert stacks[3]["error"] == (
        f"timed out after {TIMEOUT} s and killed with all it started: "
        f"docker compose --project-name {hung} up --detach --remove-orphans"
    )
    for path in others:
        assert running(world, path), path
    assert world.containers(hung) == []
    # The wrapper, as `docker`, and the child it waits on, as the Compose plugin.
    pids = world.hung_pids()
    assert len(pids) == 2
    assert [pid for pid in pids if alive(pid)] == []
    status = json.loads(world.run("status", "--format", "json").stdout)
    found = {each["stack"]: (each["status"], each["last_error"]) for each in status["stacks"]}
    assert found[hung] == ("error", stacks[3]["error"])
    assert {found[path][0] for path in others} == {"ok"}

    world.hang_up(None)
    world.pusher.write(f"{hung}/.env", "AGAIN=1\n")
    world.pusher.commit_and_push("the hung stack, changed")

    again = once(world, "--jobs", "2", "--compose-timeout", str(TIMEOUT))

    assert again.returncode == 0, again.stderr
    assert running(world, hung)


TIMEOUT = 30
