"""``--engine swarm`` end to end: a real single-node Swarm, started here and left after.

The Swarm is made for these tests (``docker swarm init --advertise-addr 127.0.0.1``) and
left once no test of this module runs any more, on failure too; an engine that already was
in a Swarm is used as it is and not left. The other e2e tests run meanwhile on the same
engine: Compose projects, their containers, networks and volumes are unaffected by it
being a Swarm manager, and the stacks here go by names of their test alone. Overlay
networks can be made on the machines this was written on, so the stacks use Swarm's
default overlay network.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import IMAGE_V1, MISSING_IMAGE, World

NAMESPACE = "com.docker.stack.namespace"
SWARM = ("--engine", "swarm", "--health-timeout", "60")


def _swarm_state(engine: str) -> str:
    return subprocess.run(
        [engine, "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def swarm(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The engine as a Swarm manager while any worker of this run is in this module.

    Under pytest-xdist, workers count themselves in and out in the run's shared directory
    (as the pyz fixture shares its build): the first one in makes the Swarm, the last one
    out leaves it, when it was made here."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    count, made_here = shared / "swarm-users", shared / "swarm-made"
    with _locked(shared / "swarm-lock"):
        users = int(count.read_text()) if count.exists() else 0
        if users == 0 and _swarm_state(engine) == "inactive":
            networks = subprocess.run(
                [engine, "network", "ls", "--format", "{{.Name}}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            subprocess.run(
                [engine, "swarm", "init", "--advertise-addr", "127.0.0.1"],
                capture_output=True,
                text=True,
                check=True,
            )
            made_here.write_text(json.dumps({"gwbridge": "docker_gwbridge" in networks}))
        count.write_text(str(users + 1))
    try:
        yield engine
    finally:
        with _locked(shared / "swarm-lock"):
            users = int(count.read_text()) - 1
            count.write_text(str(users))
            if users == 0 and made_here.exists():
                had_gwbridge = json.loads(made_here.read_text())["gwbridge"]
                made_here.unlink()
                subprocess.run(
                    [engine, "swarm", "leave", "--force"], capture_output=True, check=False
                )
                # The bridge `swarm init` made for the tasks' traffic outlives the Swarm.
                if not had_gwbridge:
                    subprocess.run(
                        [engine, "network", "rm", "docker_gwbridge"],
                        capture_output=True,
                        check=False,
                    )


class _locked:
    """An exclusive flock on a file, for the workers of one run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.file = self.path.open("a")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self.file.close()


@pytest.fixture
def world(swarm: str, world: World) -> Iterator[World]:
    """The harness's world, and at its end the stacks it deployed removed, with their
    volumes (the product never removes them: the test does, for itself)."""
    try:
        yield world
    finally:
        stacks = {
            call.split()[-1] for call in world._all_calls() if call.startswith("stack deploy ")
        }
        for stack in sorted(stacks):
            world.docker("stack", "rm", stack, check=False)
        for stack in sorted(stacks):
            _wait(lambda stack=stack: not _services(world, stack), 60)
            _wait(lambda stack=stack: not _task_containers(world, stack), 60)
            for volume in world.docker(
                "volume", "ls", "-q", "--filter", f"label={NAMESPACE}={stack}"
            ).stdout.split():
                world.docker("volume", "rm", "-f", volume, check=False)


def _wait(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return bool(condition())


def _services(world: World, stack: str) -> dict[str, dict[str, Any]]:
    """The stack's services by their name in the Compose file, as Docker inspects them."""
    ids = world.docker(
        "service", "ls", "-q", "--filter", f"label={NAMESPACE}={stack}"
    ).stdout.split()
    if not ids:
        return {}
    found = json.loads(world.docker("service", "inspect", *ids).stdout)
    return {each["Spec"]["Name"].removeprefix(f"{stack}_"): each for each in found}


def _task_containers(world: World, stack: str) -> list[str]:
    return world.docker("ps", "-aq", "--filter", f"label={NAMESPACE}={stack}").stdout.split()


def _running_tasks(world: World, stack: str, service: str) -> list[str]:
    return world.docker(
        "service",
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        "desired-state=running",
        f"{stack}_{service}",
    ).stdout.split()


def _task_created(world: World, tasks: list[str]) -> list[str]:
    """When each task was made, as Docker inspects it."""
    found = json.loads(world.docker("inspect", "--type", "task", *tasks).stdout)
    return [each["CreatedAt"] for each in found]


def _replicas(world: World, stack: str) -> dict[str, str]:
    listed = world.docker(
        "service",
        "ls",
        "--filter",
        f"label={NAMESPACE}={stack}",
        "--format",
        "{{.Name}}\t{{.Replicas}}",
    ).stdout
    return {
        name.removeprefix(f"{stack}_"): replicas
        for name, _, replicas in (line.partition("\t") for line in listed.splitlines())
    }


def _stack(command: str = "sleep 3600", *, volume: bool = True, extra: str = "") -> str:
    lines = [
        "services:",
        "  web:",
        f"    image: {IMAGE_V1}",
        f"    command: {json.dumps(['sh', '-c', command])}",
        "    init: true",
    ]
    if volume:
        lines += ["    volumes: [data:/data]"]
    lines += [line for line in extra.splitlines() if line.strip()]
    if volume:
        lines += ["volumes:", "  data: {}"]
    return "\n".join(lines) + "\n"


def _two_services(web: str, worker: str) -> str:
    return f"""services:
  web:
    image: {IMAGE_V1}
    command: {json.dumps(["sh", "-c", web])}
    init: true
  worker:
    image: {IMAGE_V1}
    command: {json.dumps(["sh", "-c", worker])}
    init: true
"""


def _events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]


def _statuses(world: World) -> dict[str, dict[str, Any]]:
    """Each stack's saved status (``status --format json``), by its path."""
    done = world.run("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {entry["stack"]: entry for entry in json.loads(done.stdout)["stacks"]}


def once(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return world.run("--once", "--log-format", "json", *SWARM, *args)


# The engine's Swarm state is the whole engine's: `make test` runs this alone, after the
# others (see the Makefile), when no test of this module holds a Swarm.
@pytest.mark.engine_wide
def test_a_worker_or_an_engine_in_no_swarm_is_one_line_and_exit_2(
    engine: str, tmp_path: Any
) -> None:
    """Without the module's Swarm: the engine is in none when this runs alone, or the
    check says so of any engine that is no manager."""
    if _swarm_state(engine) != "inactive":
        pytest.skip("the engine is in a Swarm: the refusal cannot be seen")
    world = World(tmp_path, engine)
    done = world.run("--once", "--engine", "swarm")

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Swarm" in lines[0]


def test_a_stack_deploys_converges_updates_and_its_removal_keeps_the_volume(
    world: World,
) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", _stack("echo one > /data/mark; sleep 3600"))
    world.pusher.commit_and_push("add app")

    done = once(world)

    assert done.returncode == 0, done.stderr
    assert _replicas(world, app) == {"web": "1/1"}
    deploys = [c for c in world.docker_calls() if c.startswith("stack deploy ")]
    assert len(deploys) == 1
    assert "--prune" in deploys[0]
    assert "--with-registry-auth" in deploys[0]
    # The rendered file is the product's own, in its state directory, out of the tree.
    rendered = deploys[0].split("--compose-file ", 1)[1].split()[0]
    assert rendered.startswith(f"{world.host}/.git/gitops-compose/swarm/"), rendered
    assert world.volume_exists(f"{app}_data")
    before = _services(world, app)["web"]

    world.pusher.write(f"{app}/compose.yaml", _stack("echo two > /data/mark; sleep 3601"))
    world.pusher.commit_and_push("change app")
    done = once(world)

    assert done.returncode == 0, done.stderr
    after = _services(world, app)["web"]
    assert after["UpdatedAt"] != before["UpdatedAt"]
    assert "sleep 3601" in " ".join(after["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"])
    assert _replicas(world, app) == {"web": "1/1"}
    assert _statuses(world)[app]["status"] == "ok"

    world.clear_calls()
    world.pusher.remove(f"{app}/compose.yaml")
    world.pusher.commit_and_push("remove app")
    done = once(world)

    assert done.returncode == 0, done.stderr
    assert f"stack rm {app}" in world.docker_calls()
    assert _wait(lambda: not _services(world, app), 60)
    assert _wait(lambda: not _task_containers(world, app), 60)
    assert world.volume_exists(f"{app}_data")


def test_a_change_to_one_service_leaves_the_other_services_tasks_alone(world: World) -> None:
    app = world.name("pair")
    world.pusher.write(f"{app}/compose.yaml", _two_services("sleep 3600", "sleep 3600"))
    world.pusher.commit_and_push("add pair")
    assert (done := once(world)).returncode == 0, done.stderr
    before = _services(world, app)
    worker_tasks = _running_tasks(world, app, "worker")
    before_created = _task_created(world, worker_tasks)
    web_tasks = _running_tasks(world, app, "web")

    world.pusher.write(f"{app}/compose.yaml", _two_services("sleep 3601", "sleep 3600"))
    world.pusher.commit_and_push("change web only")
    done = once(world)

    assert done.returncode == 0, done.stderr
    after = _services(world, app)
    assert after["web"]["UpdatedAt"] != before["web"]["UpdatedAt"]
    assert _running_tasks(world, app, "web") != web_tasks
    # `docker stack deploy` bumps every service's UpdatedAt, changed or not: what says
    # whether Swarm updated one is its task template, its update status and its tasks.
    assert "UpdateStatus" in after["web"]
    assert after["worker"]["Spec"] == before["worker"]["Spec"]
    assert after["worker"].get("UpdateStatus") == before["worker"].get("UpdateStatus")
    assert _running_tasks(world, app, "worker") == worker_tasks
    assert _task_created(world, worker_tasks) == before_created


def test_a_stack_using_build_is_an_error_naming_the_key_and_nothing_is_tried(
    world: World,
) -> None:
    app, good = world.names("built", "good")
    world.pusher.write(
        f"{app}/compose.yaml",
        _stack(volume=False, extra="    build: .\n    restart: always"),
    )
    world.pusher.write(f"{app}/Dockerfile", f"FROM {IMAGE_V1}\n")
    world.pusher.write(f"{good}/compose.yaml", _stack(volume=False))
    world.pusher.commit_and_push("add a stack Swarm cannot run as written, and a good one")

    done = once(world)

    assert done.returncode == 1
    status = _statuses(world)[app]
    assert status["status"] == "error"
    assert "services.web.build" in status["last_error"]
    assert "services.web.restart" in status["last_error"]
    assert not [c for c in world.docker_calls() if c.endswith(f" {app}")]
    assert _services(world, app) == {}
    # The other stack goes on.
    assert _statuses(world)[good]["status"] == "ok"
    assert _replicas(world, good) == {"web": "1/1"}


def test_an_update_swarm_rolls_back_is_an_error_never_ok(world: World) -> None:
    app = world.name("rolls")
    rollback = (
        "    deploy:\n"
        "      update_config: {failure_action: rollback, monitor: 3s}\n"
        "      restart_policy: {condition: on-failure, delay: 1s}"
    )
    world.pusher.write(f"{app}/compose.yaml", _stack(volume=False, extra=rollback))
    world.pusher.commit_and_push("add rolls")
    assert (done := once(world)).returncode == 0, done.stderr

    world.pusher.write(f"{app}/compose.yaml", _stack("exit 3", volume=False, extra=rollback))
    world.pusher.commit_and_push("a command that cannot run")
    done = once(world, "--no-rollback")

    assert done.returncode == 1
    status = _statuses(world)[app]
    assert status["status"] == "error"
    assert "rolled back by Swarm" in status["last_error"]
    web = _services(world, app)["web"]
    assert web["UpdateStatus"]["State"] == "rollback_completed"
    assert "sleep 3600" in " ".join(web["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"])


def test_a_service_whose_image_cannot_start_is_not_reported_ok(world: World) -> None:
    app = world.name("missing")
    world.pusher.write(f"{app}/compose.yaml", _stack(volume=False).replace(IMAGE_V1, MISSING_IMAGE))
    world.pusher.commit_and_push("an image that is nowhere")

    started = time.monotonic()
    done = world.run(
        "--once", "--log-format", "json", "--engine", "swarm", "--health-timeout", "15"
    )

    assert done.returncode == 1
    status = _statuses(world)[app]
    assert status["status"] == "error"
    assert "not converged within" in status["last_error"]
    assert "web 0/1" in status["last_error"]
    assert time.monotonic() - started < 120


def test_a_change_whose_image_cannot_start_is_rolled_back_to_what_ran_well(
    world: World,
) -> None:
    app = world.name("back")
    world.pusher.write(f"{app}/compose.yaml", _stack(volume=False))
    world.pusher.commit_and_push("add back")
    assert (done := once(world)).returncode == 0, done.stderr
    ran = _services(world, app)["web"]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]

    world.pusher.write(f"{app}/compose.yaml", _stack(volume=False).replace(IMAGE_V1, MISSING_IMAGE))
    world.pusher.commit_and_push("an image that is nowhere")
    done = world.run(
        "--once", "--log-format", "json", "--engine", "swarm", "--health-timeout", "20"
    )

    assert done.returncode == 1
    status = _statuses(world)[app]
    assert status["status"] != "ok"
    assert status["last_error"]
    web = _services(world, app)["web"]
    # Deployed again from the files and the image (by digest) that last ran well.
    assert web["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == ran
    assert _wait(lambda: _replicas(world, app) == {"web": "1/1"}, 30)


def test_one_check_reads_every_stack_in_two_docker_calls_whatever_their_number(
    world: World,
) -> None:
    stacks = world.names("one", "two", "three")
    calls = []
    for count in (1, 3):
        for stack in stacks[:count]:
            world.pusher.write(f"{stack}/compose.yaml", _stack(volume=False))
        world.pusher.commit_and_push(f"{count} stacks")
        assert (done := once(world)).returncode == 0, done.stderr
        assert all(_replicas(world, stack) == {"web": "1/1"} for stack in stacks[:count])
        world.clear_calls()
        # --self-heal: the check looks at the host and judges every stack it manages.
        assert (done := once(world, "--self-heal")).returncode == 0, done.stderr
        calls.append([" ".join(call.split()[:2]) for call in world.docker_calls()])

    # Once per run, before any check: whether the engine is a Swarm manager (a daemon
    # asks at its start); then the check's own two calls.
    assert calls[0] == calls[1] == ["info --format", "service ls", "service inspect"]
    # plan is the same conversation, stopped once planned: nothing to do.
    planned = world.run("plan", "--engine", "swarm")
    assert planned.returncode == 0, planned.stdout + planned.stderr
