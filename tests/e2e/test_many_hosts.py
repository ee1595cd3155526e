"""One repository, many hosts (--path), with real git and the real engine: two hosts' clones
of one origin, each with its own state, share this machine's engine, so a host that touched
another's stacks would show it here."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .harness import SETTLE_AT_ONCE, World, git, stack_yaml
from .test_reconcile import events

SHARED = "env_file: ../../../shared/common.env"


def second_host(world: World) -> Path:
    """Host b's clone of the same origin, under this test's directory (so cleaned up)."""
    clone = world.tmp / "host-b" / f"stacks-{world.tag}"
    clone.parent.mkdir()
    git(clone.parent, "clone", "-q", "--branch", "main", str(world.origin), clone.name)
    return clone


def check(world: World, clone: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    """One --once check of ``clone`` with each of ``paths`` as a --path."""
    scope = [arg for path in paths for arg in ("--path", path)]
    command = [sys.executable, "-m", "gitops_compose", "--repo", str(clone), *SETTLE_AT_ONCE]
    return subprocess.run(
        [*command, "--once", "--log-format", "json", *scope],
        cwd=clone,
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def ids(world: World, project: str) -> list[str]:
    """The ids of a project's running containers: a restart changes them."""
    return [each["id"] for each in world.containers(project) if each["state"] == "running"]


def started_or_stopped(world: World) -> list[str]:
    """The Compose commands that started or stopped something since the last clear."""
    verbs = (" up ", " down ", " stop ", " rm ")
    return [call for call in world.compose_calls() if any(verb in f" {call} " for verb in verbs)]


@dataclass(frozen=True)
class TwoHosts:
    """hosts/a holds web (naming shared/common.env) and solo; hosts/b holds api (naming it
    too, with a named volume) and stay. Both hosts have checked once."""

    web: str
    solo: str
    api: str
    stay: str
    host_b: Path

    def project(self, name: str) -> str:
        host = "a" if name in (self.web, self.solo) else "b"
        return f"hosts-{host}-{name}"


def two_hosts(world: World) -> TwoHosts:
    web, solo, api, stay = world.names("web", "solo", "api", "stay")
    pusher = world.pusher
    pusher.write("shared/common.env", "GREETING=one\n")
    pusher.write(f"hosts/a/{web}/compose.yaml", stack_yaml(extra=SHARED))
    pusher.write(f"hosts/a/{solo}/compose.yaml", stack_yaml())
    pusher.write(
        f"hosts/b/{api}/compose.yaml",
        stack_yaml(extra=f"{SHARED}\nvolumes: ['data:/data']", top="volumes:\n  data: {}"),
    )
    pusher.write(f"hosts/b/{stay}/compose.yaml", stack_yaml())
    pusher.commit_and_push("two hosts, one shared file")
    hosts = TwoHosts(web, solo, api, stay, second_host(world))
    # Host b first: its stacks run on this engine while host a checks.
    done = check(world, hosts.host_b, "hosts/b")
    assert done.returncode == 0, done.stderr
    b_before = running(world, hosts, api, stay)
    assert all(b_before.values())
    world.clear_calls()
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    assert all(running(world, hosts, web, solo).values())
    assert running(world, hosts, api, stay) == b_before
    assert not [call for call in started_or_stopped(world) if "hosts-b-" in call]
    return hosts


def running(world: World, hosts: TwoHosts, *names: str) -> dict[str, list[str]]:
    return {name: ids(world, hosts.project(name)) for name in names}


def test_a_host_acts_only_on_its_subtree_and_on_the_shared_files_its_stacks_name(
    world: World,
) -> None:
    hosts = two_hosts(world)
    web, solo, api, stay = hosts.web, hosts.solo, hosts.api, hosts.stay
    # Names stay relative to the repository root.
    assert world.exec(hosts.project(web), "app", "echo $GREETING").strip() == "one"
    a_before = running(world, hosts, web, solo)
    b_before = running(world, hosts, api, stay)

    # A change in b's subtree: a fast-forwards and restarts nothing.
    world.pusher.write(f"hosts/b/{stay}/compose.yaml", stack_yaml("sleep 3601"))
    head = world.pusher.commit_and_push("b's change")
    world.clear_calls()
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    assert started_or_stopped(world) == []
    assert git(world.host, "rev-parse", "HEAD") == head
    assert running(world, hosts, web, solo) == a_before
    assert running(world, hosts, api, stay) == b_before

    # The shared file: a restarts the a stack that names it, and only that one; b's stack
    # that names it too is b's to restart.
    world.pusher.write("shared/common.env", "GREETING=two\n")
    world.pusher.commit_and_push("shared change")
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    acted = [(e["stack"], e["action"]) for e in events(done) if e["event"] == "stack"]
    assert acted == [(f"hosts/a/{web}", "restart")]
    assert world.exec(hosts.project(web), "app", "echo $GREETING").strip() == "two"
    assert running(world, hosts, solo) == {solo: a_before[solo]}
    assert running(world, hosts, api, stay) == b_before
    done = check(world, hosts.host_b, "hosts/b")
    assert done.returncode == 0, done.stderr
    assert world.exec(hosts.project(api), "app", "echo $GREETING").strip() == "two"


def test_a_stack_moved_to_another_hosts_subtree_starts_there_and_stops_here(
    world: World,
) -> None:
    hosts = two_hosts(world)
    api, stay = hosts.api, hosts.stay
    b_before = running(world, hosts, api, stay)
    world.pusher.move(f"hosts/b/{api}", f"hosts/a/{api}")
    world.pusher.commit_and_push("api moves to host a")
    moved = f"hosts-a-{api}"

    # a starts it, never stopping b's project, which runs on the same engine...
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    assert ids(world, moved)
    assert running(world, hosts, api, stay) == b_before

    # ...and b, whose subtree no longer holds it, stops it and keeps its volume.
    done = check(world, hosts.host_b, "hosts/b")
    assert done.returncode == 0, done.stderr
    assert world.containers(hosts.project(api)) == []
    assert world.volume_exists(f"{hosts.project(api)}_data")
    assert ids(world, moved)
    assert running(world, hosts, stay) == {stay: b_before[stay]}


def test_a_mistyped_path_stops_nothing_and_says_so(world: World) -> None:
    (web,) = world.names("web")
    world.pusher.write(f"hosts/a/{web}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("host a")
    project = f"hosts-a-{web}"
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    running = ids(world, project)
    world.pusher.write(f"hosts/a/{web}/compose.yaml", stack_yaml("sleep 3601"))
    world.pusher.commit_and_push("a change while the host's --path is wrong")

    plan = world.run("plan", "--path", "host/a")
    assert plan.returncode == 1, plan.stderr  # the fast-forward is pending
    assert plan.stdout.splitlines()[1:] == [
        "warning  --path host/a (no such directory at the remote head: this host manages no "
        "stack there)"
    ]
    world.clear_calls()
    done = check(world, world.host, "host/a")
    assert done.returncode == 0, done.stderr
    assert started_or_stopped(world) == []
    assert ids(world, project) == running
    said = events(done)
    assert [(e["level"], e["path"]) for e in said if e["event"] == "subtree"] == [
        ("warning", "host/a")
    ]
    forgotten = [e for e in said if e["event"] == "stack" and e.get("outcome") == "forgotten"]
    assert [e["stack"] for e in forgotten] == [f"hosts/a/{web}"]

    # Bad input is refused before anything is looked at.
    refused = check(world, world.host, "../elsewhere")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "gitops-compose: --path '../elsewhere' leaves the repository"

    # Put right, the host takes its stack back, and brings it to the files pushed meanwhile.
    done = check(world, world.host, "hosts/a")
    assert done.returncode == 0, done.stderr
    assert ids(world, project) != running
    command = world.containers(project)[0]
    assert "3601" in world.docker("inspect", "-f", "{{json .Config.Cmd}}", command["id"]).stdout
