"""Bad input gets one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_compose import __version__
from gitops_compose.core.compose.scope import Scope
from gitops_compose.shell.deploy import Options


def run(
    *args: str, cwd: Path | None = None, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = None
    if path is not None:
        env = {"PATH": path, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "gitops_compose", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",  # paths are printed as given, bytes that are no UTF-8 too
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def committed_repository(path: Path) -> None:
    """A git repository with one empty commit on main."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(
        ["git", "-C", str(path), *identity, "commit", "-q", "--allow-empty", "-m", "x"],
        check=True,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bogus"], "unknown command, option or bad arguments"),
        (["--interval", "soon"], "--interval takes a number of seconds"),
        (["--interval", "0"], "--interval must be more than 0"),
        (["--metrics-addr", "localhost"], "--metrics-addr takes HOST:PORT"),
        (["--log-format", "xml"], "--log-format must be text or json"),
        (["--ssh-key", "/nonexistent/key"], "--ssh-key /nonexistent/key: no such file"),
        (["--compose-timeout", "-1"], "--compose-timeout must be more than 0"),
        (["--interval", "1e10"], "--interval must be at most 31536000 seconds (a year)"),
        (["--jobs", "0"], "--jobs takes a whole number from 1 to 64"),
        (["--engine", "kubernetes"], "--engine must be compose or swarm, not 'kubernetes'"),
        (["--interval", "-2"], "--interval must be more than 0"),
        (["--interval", "nan"], "--interval takes a number of seconds, not 'nan'"),
        (["--interval", "inf"], "--interval must be at most 31536000 seconds"),
        (["--interval", "1e400"], "--interval must be at most 31536000 seconds"),
        (["--jobs", "1e9"], "--jobs takes a whole number from 1 to 64, not '1e9'"),
        (["--jobs", "99999999999999999999"], "--jobs takes a whole number from 1 to 64"),
        (["--jobs", "\u00b2"], "--jobs takes a whole number from 1 to 64"),
        (["--compose-timeout", "0"], "--compose-timeout must be more than 0"),
        (["--compose-timeout", "nan"], "--compose-timeout takes a number of seconds"),
        (["--metrics-addr", ":99999"], "--metrics-addr takes HOST:PORT, not ':99999'"),
        (["--metrics-addr", "host:"], "--metrics-addr takes HOST:PORT, not 'host:'"),
        (["--metrics-addr", ":\u00b2"], "--metrics-addr takes HOST:PORT"),
        (["--metrics-addr", "[::1"], "an IPv6 address in brackets ([::1]:2112), not '[::1'"),
        (["--metrics-addr", "::1:2112"], "an IPv6 address in brackets"),
        (["--metrics-addr", "[nope]:2112"], "[nope] is no IPv6 address"),
        (["--remote", "a..b"], "--remote 'a..b' is not a valid git name"),
        (["--branch", "a b"], "--branch 'a b' is not a valid git name"),
        # A byte that is not UTF-8, as a shell passes it: Python sees a lone surrogate.
        (["--remote", "\udcff"], "--remote '\\udcff' is not UTF-8 text"),
        (["frobnicate"], "unknown command, option or bad arguments in 'frobnicate --once'"),
        (["status", "--format", "nope"], "--format must be text or json, not 'nope'"),
        (["--repo", "/nonexistent/clone"], "/nonexistent/clone is not inside a git repository"),
        (["--path", "/srv/infra/hosts/a"], "--path '/srv/infra/hosts/a' must be relative to"),
        (["--path", "hosts/a", "--path", "../b"], "--path '../b' leaves the repository"),
        (["plan", "--path", "a/../../b"], "--path 'a/../../b' leaves the repository"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = run(*args, "--once")
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_directory_that_is_no_git_repository_exits_2(tmp_path: Path) -> None:
    done = run("--once", "--repo", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == f"gitops-compose: {tmp_path} is not inside a git repository"


def test_no_docker_on_path_exits_2(tmp_path: Path) -> None:
    committed_repository(tmp_path)
    done = run("--once", "--repo", str(tmp_path), path=str(tmp_path / "nothing-here"))
    assert done.returncode == 2
    assert "no 'docker' command on PATH" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def cloned_repository(tmp_path: Path, files: dict[str, str]) -> Path:
    """A host clone of an origin whose one commit on main holds ``files``."""
    work = tmp_path / "work"
    committed_repository(work)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-q", "-m", "y"], check=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(tmp_path / "origin")], check=True
    )
    subprocess.run(
        ["git", "clone", "-q", str(tmp_path / "origin"), str(tmp_path / "host")], check=True
    )
    return tmp_path / "host"


def docker_without_compose(tmp_path: Path) -> str:
    """A PATH whose docker lists no containers and has no compose plugin."""
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$(dirname "$0")/calls"\n'
        '[ "$1" = compose ] || exit 0\n'
        "echo \"docker: 'compose' is not a docker command.\" >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    return f"{fake.parent}:/usr/bin:/bin"


def test_no_compose_v2_exits_2_before_the_first_compose_command(tmp_path: Path) -> None:
    host = cloned_repository(tmp_path, {"app/compose.yaml": "services:\n  web:\n    image: x\n"})
    done = run("--once", "--repo", str(host), path=docker_without_compose(tmp_path))
    assert done.returncode == 2
    assert "Docker Compose v2 is required" in done.stderr
    assert "'compose' is not a docker command" in done.stderr
    assert "Traceback" not in done.stderr
    calls = (tmp_path / "bin" / "calls").read_text().splitlines()
    assert [each for each in calls if each.startswith("compose")] == ["compose version --short"]


def test_a_check_that_runs_no_compose_command_needs_no_compose(tmp_path: Path) -> None:
    host = cloned_repository(tmp_path, {"README.md": "no stacks yet\n"})
    done = run("--once", "--repo", str(host), path=docker_without_compose(tmp_path))
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "bin" / "calls").read_text().splitlines()
    assert not [each for each in calls if each.startswith("compose")]


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"gitops-compose {__version__}"
    helped = run("--help")
    assert helped.returncode == 0
    for option in (
        "--repo",
        "--remote",
        "--branch",
        "--interval",
        "--once",
        "--metrics-addr",
        "--no-metrics",
        "--log-format",
        "--verbose",
        "--version",
    ):
        assert option in helped.stdout


@pytest.mark.parametrize(
    ("option", "target", "says"),
    [
        ("--state-dir", "a-file", "is a file, not a directory"),
        ("--state-dir", "/proc/gitops-state", "state directory /proc/gitops-state:"),
        ("--metrics-file", "a-directory", "is a directory; name a file"),
        ("--state-dir", "a-file/state", "state directory {tmp}/a-file/state: Not a directory"),
        ("--metrics-file", "a-file/metrics.prom", "cannot write in {tmp}/a-file"),
    ],
)
def test_paths_that_cannot_be_written_exit_2_before_anything_is_deployed(
    tmp_path: Path, option: str, target: str, says: str
) -> None:
    host = cloned_repository(tmp_path, {"app/compose.yaml": "services:\n  web:\n    image: x\n"})
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "a-directory").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    done = run("--once", "--repo", str(host), option, path, path=docker_without_compose(tmp_path))
    assert done.returncode == 2
    assert says.format(tmp=tmp_path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    calls = (
        (tmp_path / "bin" / "calls").read_text().splitlines()
        if (tmp_path / "bin" / "calls").exists()
        else []
    )
    assert calls == []


@pytest.mark.parametrize(
    "args",
    [["status"], ["status", "--format", "json"], ["--help"], ["--version"]],
    ids=["status", "status-json", "help", "version"],
)
def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path, args: list[str]) -> None:
    committed_repository(tmp_path)
    reader = subprocess.Popen(
        [sys.executable, "-m", "gitops_compose", *args, "--repo", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None
    reader.stdout.close()  # as `| head` does once it has its lines
    _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 0
    assert stderr == b""


@pytest.mark.parametrize(
    ("command", "make", "says"),
    [
        ("status", "file", "state directory {state} is a file, not a directory"),
        ("plan", "file", "state directory {state} is a file, not a directory"),
        ("status", "state.json directory", "state file {state}/state.json: Is a directory"),
    ],
)
def test_reading_a_state_directory_of_the_wrong_kind_is_one_line_and_exit_2(
    tmp_path: Path, command: str, make: str, says: str
) -> None:
    host = cloned_repository(tmp_path, {"app/compose.yaml": "services:\n  web:\n    image: x\n"})
    state = tmp_path / "state"
    if make == "file":
        state.write_text("not a directory\n")
    else:
        (state / "state.json").mkdir(parents=True)
    done = run(
        command,
        "--repo",
        str(host),
        "--state-dir",
        str(state),
        path=docker_without_compose(tmp_path),
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"gitops-compose: {says.format(state=state)}"


def test_arguments_that_are_not_utf_8_are_paths_like_any_other(tmp_path: Path) -> None:
    """Bytes that are no UTF-8 come to Python as surrogates; as paths they work."""
    odd = Path(os.fsdecode(b"clone-\xff"))
    host = tmp_path / odd
    host.mkdir()
    committed_repository(host)
    state = tmp_path / Path(os.fsdecode(b"state-\xfe"))
    done = run("status", "--repo", str(host), "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no check has run yet (no state in {state})\n"
    missing = run("--once", "--repo", str(tmp_path / Path(os.fsdecode(b"gone-\xfd"))))
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("gone-\\udcfd is not inside a git repository")


def options_with(environ: dict[str, str], *argv: str) -> Options:
    from gitops_compose.shell.cli import __doc__ as usage  # noqa: PLC0415
    from gitops_compose.shell.commands import parse_options  # noqa: PLC0415

    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        return parse_options(list(argv), usage or "")[1]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_original_variables_stand_for_options_and_the_command_line_wins() -> None:
    original = {
        "REPOSITORY_PATH": "/srv/deploy",
        "CHECK_INTERVAL_IN_SECONDS": "-1",
        "METRICS_ENABLED": "false",
        "WEBHOOK_ENABLED": "false",
        "GITOPS_WEBHOOK_SECRET": "s",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "warn",
    }
    found = options_with(original)
    assert (found.repo, found.interval, found.metrics_addr) == (Path("/srv/deploy"), None, None)
    assert (found.webhook_secret, found.log_format, found.log_level) == (None, "json", 30)
    given = options_with(
        original, "--repo", "/other", "--interv", "5", "--metrics-addr", ":9", "-v"
    )
    assert (given.repo, given.interval, given.metrics_addr, given.log_level) == (
        Path("/other"),
        5.0,
        ("0.0.0.0", 9),
        10,
    )
    assert options_with({"GITOPS_WEBHOOK_SECRET": " s \n"}).webhook_secret == b"s"


def test_options_never_show_the_credentials() -> None:
    found = options_with(
        {"GITOPS_WEBHOOK_SECRET": "hook-s3cret", "GITOPS_NOTIFY_URLS": "json://u:n0tify@x/"}
    )
    assert found.webhook_secret == b"hook-s3cret"
    assert found.notify is not None
    assert "s3cret" not in repr(found)
    assert "n0tify" not in repr(found)
    assert "interval=60.0" in repr(found)


def test_path_is_repeatable_and_gitops_path_stands_for_it() -> None:
    assert options_with({}).scope == Scope()
    given = options_with({}, "--path", "hosts/a/", "--path", "./shared-apps")
    assert given.scope == Scope(("hosts/a", "shared-apps"))
    listed = options_with({"GITOPS_PATH": " hosts/a, hosts/b:shared-apps  extra "})
    assert listed.scope == Scope(("extra", "hosts/a", "hosts/b", "shared-apps"))
    assert options_with({"GITOPS_PATH": "hosts/b"}, "--path", "hosts/a").scope == Scope(
        ("hosts/a",)
    )
    status = options_with({}, "status", "--path", "hosts/a", "--path", "hosts/b")
    assert status.scope == Scope(("hosts/a", "hosts/b"))


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("GITOPS_PATH", "hosts/a,/etc", "--path '/etc' must be relative to the repository root"),
        ("CHECK_INTERVAL_IN_SECONDS", "soon", "--interval takes a number of seconds"),
        ("WEBHOOK_ENABLED", "maybe", "WEBHOOK_ENABLED must be true or false, not 'maybe'"),
        ("LOG_LEVEL", "loud", "--log-level must be debug, info, warning or error"),
        ("LOG_FORMAT", "xml", "--log-format must be text or json"),
        ("GITOPS_ENGINE", "nomad", "GITOPS_ENGINE must be compose or swarm, not 'nomad'"),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_2(variable: str, value: str, says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gitops_compose", "--once"],
        capture_output=True,
        text=True,
        env={**os.environ, variable: value},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--commit-status", "bitbucket"], "--commit-status must be github, gitea or gitlab"),
        (["--commit-status", "github"], "--commit-status needs the forge's token"),
        (
            ["--commit-status", "github", "--forge-token-file", "/nonexistent/token"],
            "--forge-token-file /nonexistent/token: No such file or directory",
        ),
        (
            ["--forge-url", "https://git.example.org/api/v1"],
            "--forge-url goes with --commit-status",
        ),
        (["--forge-repo", "o/n"], "--forge-repo goes with --commit-status"),
    ],
)
def test_bad_forge_options_give_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = run(*args, "--once")
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_forge_values_give_one_line_and_exit_2(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok3n-value\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = [
        (["--forge-token-file", str(empty)], f"--forge-token-file {empty} is empty"),
        (["--forge-token-file", str(token), "--forge-url", "ftp://x"], "--forge-url takes"),
        (
            ["--forge-token-file", str(token), "--forge-url", "https://me:pw99@x.example/api"],
            "--forge-url must carry no user or password",
        ),
        (["--forge-token-file", str(token), "--forge-repo", "just-a-name"], "--forge-repo takes"),
    ]
    for args, says in cases:
        done = run("--once", "--commit-status", "gitea", *args)
        assert done.returncode == 2, args
        assert says in done.stderr, args
        assert len(done.stderr.strip().splitlines()) == 1
        assert "tok3n-value" not in done.stderr
        assert "pw99" not in done.stderr


def test_a_local_remote_needs_forge_repo_and_for_gitea_forge_url(tmp_path: Path) -> None:
    host = cloned_repository(tmp_path, {"README.md": "x\n"})
    token = tmp_path / "token"
    token.write_text("tok3n-value\n")
    base = ["--once", "--repo", str(host), "--forge-token-file", str(token)]

    done = run(*base, "--commit-status", "github")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "gitops-compose: --commit-status github: remote origin: the remote is a local path; "
        "pass --forge-repo OWNER/NAME"
    )
    done = run(*base, "--commit-status", "gitea", "--forge-repo", "acme/stacks")
    assert done.returncode == 2
    assert "pass --forge-url URL" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_engine_is_compose_unless_gitops_engine_or_engine_says_swarm() -> None:
    from gitops_compose.core.reconcile.engine import Engine  # noqa: PLC0415

    assert options_with({}).engine is Engine.COMPOSE
    assert options_with({"GITOPS_ENGINE": "swarm"}).engine is Engine.SWARM
    assert options_with({"GITOPS_ENGINE": "swarm"}, "--engine", "compose").engine is (
        Engine.COMPOSE
    )
    assert options_with({}, "--engine", "Swarm").engine is Engine.SWARM
