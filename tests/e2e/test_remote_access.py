"""Fetching from authenticated remotes, end to end: a real smart-HTTP server behind basic
auth, a real sshd checked against ~/.ssh/known_hosts, a real ssh-agent, the real engine.

A fetch that fails ends the check before anything is touched: exit 1, one check error, no
stack command, HEAD and the remote-tracking branch where they were. A password in the
remote's URL is never printed, whatever the log format or verbosity.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .git_servers import SmartHttpServer, SshAgent, SshServer, keygen, sshd_problem
from .harness import World, git, stack_yaml

USER = "deploy"
PASSWORD = "s3cret-token"
WRONG_PASSWORD = "wr0ng-passw0rd"


def events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]


def check_events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [e for e in events(done) if e["event"] == "check"]


def stack_commands(world: World) -> list[str]:
    """Compose calls that act on stacks: the `compose version` probe and `config --hash`
    (what configuration the files give) only read."""
    return [
        call
        for call in world.compose_calls()
        if not call.startswith("compose version") and " config --hash " not in f"{call} "
    ]


def running(world: World, project: str) -> bool:
    found = world.containers(project)
    return bool(found) and all(c["state"] == "running" for c in found)


def push_stack(world: World, command: str = "sleep 3600") -> str:
    """Push one stack whose project name no other test uses; returns that name."""
    project = world.name("remote")
    world.pusher.write(f"{project}/compose.yaml", stack_yaml(command))
    world.pusher.commit_and_push(f"stack {project}")
    return project


def refs(world: World) -> tuple[str, str]:
    """The host's HEAD and origin/main: a failed fetch must move neither."""
    return git(world.host, "rev-parse", "HEAD"), git(world.host, "rev-parse", "origin/main")


def set_origin(world: World, url: str) -> None:
    git(world.host, "remote", "set-url", "origin", url)


def assert_fetch_failed(world: World, done: subprocess.CompletedProcess[str]) -> str:
    """Exit 1 with one failed check that names the fetch, and nothing done; its error."""
    assert done.returncode == 1, done.stderr
    [check] = check_events(done)
    assert check["outcome"] == "error"
    assert "fetch" in check["error"]
    assert "fail" in check["error"]
    errors = [e for e in events(done) if e.get("level") == "error"]
    assert errors == [check], done.stderr
    assert stack_commands(world) == []
    return str(check["error"])


# -- smart HTTP with basic auth ---------------------------------------------------------


@pytest.fixture
def http_server(world: World) -> Iterator[SmartHttpServer]:
    with SmartHttpServer(world.origin.parent, USER, PASSWORD) as server:
        yield server


def test_password_in_http_url_fetches_and_is_never_printed(
    world: World, http_server: SmartHttpServer
) -> None:
    set_origin(world, http_server.url(world.origin.name, f"{USER}:{PASSWORD}"))
    project = push_stack(world)

    done = world.run("--once", "--log-format", "json")

    assert done.returncode == 0, done.stderr
    assert running(world, project)
    assert http_server.log.users() >= {USER}, "the fetch went through the HTTP server"
    assert PASSWORD not in done.stdout + done.stderr

    world.pusher.write(f"{project}/compose.yaml", stack_yaml("sleep 7200"))
    head = world.pusher.commit_and_push("change the stack")
    for args in (["-v"], ["-v", "--log-format", "json"]):
        done = world.run("--once", *args)
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr, args
    assert git(world.host, "rev-parse", "HEAD") == head
    assert running(world, project)


def test_percent_encoded_credentials_are_decoded_and_never_printed(world: World) -> None:
    user, password = "ci bot@corp", "p@ss:w/rd% #1"
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    project = push_stack(world)
    with SmartHttpServer(world.origin.parent, user, password) as server:
        set_origin(world, server.url(world.origin.name, userinfo))
        done = world.run("--once", "-v", "--log-format", "json")
        assert done.returncode == 0, done.stderr
        assert server.log.users() >= {user}
    assert running(world, project)
    output = done.stdout + done.stderr
    for secret in (password, quote(password, safe=""), "p@ss", "p%40ss"):
        assert secret not in output


def test_wrong_http_password_fails_the_fetch_unprinted_and_touches_nothing(
    world: World, http_server: SmartHttpServer
) -> None:
    set_origin(world, http_server.url(world.origin.name, f"{USER}:{WRONG_PASSWORD}"))
    project = push_stack(world)
    before = refs(world)
    world.clear_calls()

    done = world.run("--once", "--log-format", "json", "-v")

    error = assert_fetch_failed(world, done)
    assert "authentication failed" in error
    assert "rejected the user and password in the remote URL" in error
    assert http_server.url(world.origin.name, "***") in error, "the URL, redacted"
    for secret in (WRONG_PASSWORD, PASSWORD):
        assert secret not in done.stdout + done.stderr
    assert world.containers(project) == []
    assert refs(world) == before
    assert http_server.log.users() == {None}, "every request was refused"
    # Asked without the password, then with it (libgit2 itself, then the tool once more):
    # a refused password is not replayed on and on (servers lock accounts out for that).
    assert len(http_server.log.requests) <= 3, http_server.log.requests

    text = world.run("--once", "-v")
    assert text.returncode == 1
    assert WRONG_PASSWORD not in text.stdout + text.stderr


def test_http_remote_without_credentials_fails_the_fetch(
    world: World, http_server: SmartHttpServer
) -> None:
    set_origin(world, http_server.url(world.origin.name))
    project = push_stack(world)
    before = refs(world)
    world.clear_calls()

    done = world.run("--once", "--log-format", "json")

    assert "credentials" in assert_fetch_failed(world, done)
    assert world.containers(project) == []
    assert refs(world) == before


# -- SSH: key file or agent, host key checked against ~/.ssh/known_hosts ----------------


@pytest.fixture
def ssh_tools() -> None:
    problem = sshd_problem()
    if problem is not None:
        if os.environ.get("GITOPS_E2E") == "require":
            pytest.fail(f"GITOPS_E2E=require but {problem}", pytrace=False)
        pytest.skip(problem)


@pytest.fixture
def client_key(ssh_tools: None, tmp_path: Path) -> Path:
    directory = tmp_path / "client"
    directory.mkdir()
    return keygen(directory / "id_ed25519", "e2e-deployer")


@pytest.fixture
def sshd(world: World, client_key: Path) -> Iterator[SshServer]:
    with SshServer(world.tmp / "sshd", client_key.with_name(client_key.name + ".pub")) as server:
        yield server


@pytest.fixture
def home(world: World, sshd: SshServer) -> Path:
    """The product's HOME: its ~/.ssh/known_hosts knows the test sshd's host key."""
    home = world.tmp / "home"
    home.joinpath(".ssh").mkdir(parents=True, mode=0o700)
    home.joinpath(".ssh", "known_hosts").write_text(sshd.known_hosts_line())
    user = pwd.getpwuid(os.geteuid()).pw_name
    set_origin(world, sshd.url(world.origin, user))
    return home


def ssh_env(home: Path, **extra: str) -> dict[str, str]:
    # No agent of the caller's leaks in unless a test hands one over.
    return {"HOME": str(home), "SSH_AUTH_SOCK": "", **extra}


def test_ssh_key_file_and_known_host_key_deploy(
    world: World, sshd: SshServer, home: Path, client_key: Path
) -> None:
    project = push_stack(world)

    done = world.run(
        "--once", "--log-format", "json", "--ssh-key", str(client_key), env=ssh_env(home)
    )

    assert done.returncode == 0, done.stderr + sshd.log()
    assert running(world, project)
    assert git(world.host, "rev-parse", "HEAD") == world.pusher.head()
    assert "Accepted publickey" in sshd.log()


@pytest.mark.parametrize("known_hosts", ["empty", "missing", "other key"])
def test_unknown_ssh_host_key_is_refused_and_nothing_is_touched(
    world: World, sshd: SshServer, home: Path, client_key: Path, known_hosts: str
) -> None:
    path = home / ".ssh" / "known_hosts"
    if known_hosts == "empty":
        path.write_text("")
    elif known_hosts == "missing":
        path.unlink()
    else:
        other = keygen(world.tmp / "other_host_key", "not-the-server")
        kind, key = other.with_name(other.name + ".pub").read_text().split()[:2]
        path.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    project = push_stack(world)
    before = refs(world)
    world.clear_calls()

    done = world.run(
        "--once", "--log-format", "json", "--ssh-key", str(client_key), env=ssh_env(home)
    )

    error = assert_fetch_failed(world, done)
    assert "host" in error.lower()
    assert world.containers(project) == []
    assert refs(world) == before
    assert "Accepted publickey" not in sshd.log(), "no login to an unverified host"


def test_ssh_agent_key_deploys_without_ssh_key_option(
    world: World, sshd: SshServer, home: Path, client_key: Path
) -> None:
    project = push_stack(world)
    with SshAgent(world.tmp / "agent") as agent:
        agent.add(client_key)
        # The key file is out of reach: only the agent can have signed.
        client_key.unlink()
        done = world.run("--once", "--log-format", "json", env=ssh_env(home, **agent.env))

    assert done.returncode == 0, done.stderr + sshd.log()
    assert running(world, project)
    assert git(world.host, "rev-parse", "HEAD") == world.pusher.head()
    assert "Accepted publickey" in sshd.log()


def test_wrong_ssh_key_is_named_as_rejected_and_tried_once(
    world: World, sshd: SshServer, home: Path
) -> None:
    stranger = keygen(world.tmp / "not_authorized", "not-authorized")
    project = push_stack(world)
    before = refs(world)
    world.clear_calls()

    done = world.run(
        "--once", "--log-format", "json", "--ssh-key", str(stranger), env=ssh_env(home)
    )

    error = assert_fetch_failed(world, done)
    assert "authentication failed" in error
    assert f"rejected the SSH key {stranger}" in error
    assert f"ssh://***@127.0.0.1:{sshd.port}{world.origin}" in error, "the URL, redacted"
    assert world.containers(project) == []
    assert refs(world) == before
    assert "Accepted publickey" not in sshd.log()
    assert sshd.log().count("Failed publickey") == 1, "offered once, not again and again"


def test_agent_without_an_accepted_key_is_named_as_rejected(
    world: World, sshd: SshServer, home: Path
) -> None:
    stranger = keygen(world.tmp / "not_authorized", "not-authorized")
    project = push_stack(world)
    world.clear_calls()
    with SshAgent(world.tmp / "agent") as agent:
        agent.add(stranger)
        done = world.run("--once", "--log-format", "json", env=ssh_env(home, **agent.env))

    error = assert_fetch_failed(world, done)
    assert "authentication failed" in error
    assert "rejected every key ssh-agent offered" in error
    assert world.containers(project) == []


# -- the remote as it is: a moved origin, a deleted branch --------------------------------


@pytest.mark.parametrize("form", ["path", "file URL"])
def test_moved_origin_path_is_named_and_nothing_is_touched(world: World, form: str) -> None:
    project = push_stack(world)
    before = refs(world)
    moved = world.origin.with_name("moved.git")
    world.origin.rename(moved)
    if form == "file URL":
        set_origin(world, f"file://{world.origin}")
    world.clear_calls()

    done = world.run("--once", "--log-format", "json")

    error = assert_fetch_failed(world, done)
    assert f"{world.origin} does not exist" in error
    assert "git remote set-url origin" in error, "says what to do"
    assert world.containers(project) == []
    assert refs(world) == before

    # Pointed at the new place, the next check goes on.
    set_origin(world, str(moved))
    done = world.run("--once", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    assert running(world, project)


DELETED_BRANCH = "the remote origin has no branch main (deleted or renamed there?)"


def tracking(world: World, branch: str) -> str | None:
    """The host's refs/remotes/origin/<branch>, or None when there is none."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", f"refs/remotes/origin/{branch}"],
        cwd=world.host,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def test_branch_deleted_on_the_remote_ends_the_check_and_touches_nothing(world: World) -> None:
    project = push_stack(world)
    done = world.run("--once")
    assert done.returncode == 0, done.stderr
    [container] = world.containers(project)
    # Another branch the user may look at on the host: only the followed one is pruned.
    git(world.pusher.path, "push", "-q", "origin", "HEAD:refs/heads/other")
    other = world.pusher.head()
    # As a hosting service allows it: the default branch deleted by a push.
    git(world.origin, "config", "receive.denyDeleteCurrent", "ignore")
    git(world.pusher.path, "push", "-q", "origin", "--delete", "main")
    head = git(world.host, "rev-parse", "HEAD")
    world.clear_calls()

    done = world.run("--once", "--log-format", "json")

    assert done.returncode == 1, done.stderr
    [check] = check_events(done)
    assert check["outcome"] == "error"
    assert DELETED_BRANCH in check["error"]
    assert stack_commands(world) == []
    assert world.containers(project) == [container], "the stack runs on, untouched"
    assert git(world.host, "rev-parse", "HEAD") == head
    assert tracking(world, "main") is None, "the stale remote-tracking branch is gone"
    assert tracking(world, "other") == other

    planned = world.run("plan")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert DELETED_BRANCH in planned.stderr
    assert "in sync" not in planned.stdout

    status = json.loads(world.run("status", "--format", "json").stdout)
    assert status["checks"]["error"] == 1
    assert status["checks"]["last_error"] == status["checks"]["last"]
    assert "1 failed" in world.run("status").stdout

    # Pushed again (with a change), the branch is followed as before.
    world.pusher.write(f"{project}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.commit_and_push("main again")
    done = world.run("--once", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    assert git(world.host, "rev-parse", "HEAD") == world.pusher.head()
    [after] = world.containers(project)
    assert after["id"] != container["id"], "restarted for the change"
    assert after["state"] == "running"


def test_branch_the_fetch_refspecs_leave_out_is_not_called_deleted(world: World) -> None:
    project = push_stack(world)
    git(world.host, "config", "remote.origin.fetch", "+refs/heads/other:refs/remotes/origin/other")
    git(world.host, "update-ref", "-d", "refs/remotes/origin/main")
    world.clear_calls()

    done = world.run("--once", "--log-format", "json")

    assert done.returncode == 1, done.stderr
    [check] = check_events(done)
    assert "does not update refs/remotes/origin/main" in check["error"]
    assert "remote.origin.fetch" in check["error"]
    assert DELETED_BRANCH not in check["error"], "the remote has the branch"
    assert stack_commands(world) == []
    assert world.containers(project) == []
