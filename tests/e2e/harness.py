"""Real parts for end-to-end tests: a git origin, a pushing clone, the host's clone, the real
Docker engine behind a logging wrapper, and cleanup of whatever compose projects a test made.

The product runs Compose as the plugin ``docker compose`` runs, called directly (see
shell/compose_host). So the wrapper stands in for that plugin too: each test has a Docker
configuration directory of its own (``DOCKER_CONFIG``, the user's files linked into it)
whose ``cli-plugins/docker-compose`` is the wrapper, and the CLI names it as its plugin.
A call to the plugin made by the ``docker`` CLI (which the wrapper in front of ``docker``
saw already) is not counted twice.

Nothing here is mocked: git is the git CLI, docker is the real engine (scripts/engine.sh).

Tests run in parallel (pytest-xdist) on one engine, where a Compose project is known by its
name alone: two tests deploying a stack `app` at once would take each other's containers.
So every stack a test deploys has a name of that test alone, `World.name("app")`
(`app-<tag>`), and cleanup removes only the projects the test made.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO_ROOT / "scripts" / "engine.sh"

IMAGE_V1 = "127.0.0.1:5000/gitops-test/busybox:1"
IMAGE_V2 = "127.0.0.1:5000/gitops-test/busybox:2"
# Never pushed: the only way to make a pull fail here, with no internet registry reachable.
MISSING_IMAGE = "127.0.0.1:5000/gitops-test/missing:1"

# The health gate stays on (its timeout, and a container that exits by the first look,
# fail a deploy), but without the 10 s settle window after every deploy of every test.
SETTLE_AT_ONCE = ("--settle", "0")

PROJECT_LABEL = "com.docker.compose.project"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
SERVICE_LABEL = "com.docker.compose.service"

# Fixed identity, and no user or system git config, so commits never depend on the machine.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "E2E Pusher",
    "GIT_AUTHOR_EMAIL": "pusher@e2e.invalid",
    "GIT_COMMITTER_NAME": "E2E Pusher",
    "GIT_COMMITTER_EMAIL": "pusher@e2e.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

# Appends each call as one line, then hands over to the real docker. Fault injection: a
# `compose ... down` of the project named in the file fail_down_project (or in env
# GITOPS_E2E_FAIL_DOWN) fails without reaching docker. A `compose ... up` of the project
# named in the file hang_up_project never ends: it waits on a child of its own, as `docker`
# waits on its Compose plugin, and appends both pids to hung.pids. GITOPS_E2E_SLOW_COMPOSE=N
# makes every compose call but `version` wait N seconds first, to hold a check open.
#
# As the Compose plugin, it hands the CLI's questions about plugins straight over, and a
# call the ``docker`` CLI makes (which sets DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND) too;
# called on its own, it logs and acts as for `docker compose` and the same arguments.
WRAPPER = r"""#!/usr/bin/env bash
dir=@DIR@
if [[ ${0##*/} == docker-compose ]]; then
    [[ ${1:-} == docker-cli-plugin-metadata ]] && exec @REAL_COMPOSE@ "$@"
    [[ -n ${DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND:-} ]] && exec @REAL_COMPOSE@ "$@"
    set -- compose "$@"  # on its own, its arguments are those after `docker compose`
fi
printf '%s\n' "$*" >>"$dir/calls.log"
if [[ -n ${GITOPS_E2E_SLOW_COMPOSE:-} && ${1:-} == compose && ${2:-} != version ]]; then
    sleep "$GITOPS_E2E_SLOW_COMPOSE"
fi
if [[ ${1:-} == compose ]]; then
    project=${COMPOSE_PROJECT_NAME:-} prev='' verb=''
    for a in "$@"; do
        case $prev in
            -p | --project-name) project=$a ;;
            --project-directory | -f | --file | --ansi | --pull) ;;
            *)
                case $a in
                    --project-name=*) project=${a#*=} ;;
                    up | down) verb=${verb:-$a} ;;
                esac
                ;;
        esac
        prev=$a
    done
    target=${GITOPS_E2E_FAIL_DOWN:-}
    [[ -f $dir/fail_down_project ]] && target=$(<"$dir/fail_down_project")
    if [[ -n $target && $verb == down && $project == "$target" ]]; then
        echo "injected failure: down $target" >&2
        exit 1
    fi
    hang=''
    [[ -f $dir/hang_up_project ]] && hang=$(<"$dir/hang_up_project")
    if [[ -n $hang && $verb == up && $project == "$hang" ]]; then
        echo "$$" >>"$dir/hung.pids"
        sleep 3600 &
        echo "$!" >>"$dir/hung.pids"
        wait
        exit 1
    fi
fi
[[ ${0##*/} == docker-compose ]] && exec @REAL_COMPOSE@ "${@:2}"
exec @REAL@ "$@"
"""


class Container(TypedDict):
    id: str
    name: str
    service: str
    state: str  # running, exited, created, ...
    exit_code: int
    image: str
    labels: dict[str, str]


def engine_problem() -> str | None:
    """Why the real engine is not usable now, or None when it is."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (run `make engine`)"
    try:
        done = subprocess.run(
            ["bash", str(ENGINE_SCRIPT), "check"], capture_output=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return "scripts/engine.sh check timed out"
    if done.returncode != 0:
        return (
            "docker engine, compose v2, registry 127.0.0.1:5000 or test tools (sshd, strace) "
            "not usable (run `make engine`)"
        )
    return None


@functools.cache
def compose_plugin(docker: str) -> str | None:
    """The Compose plugin the real ``docker`` runs for ``docker compose``, or None."""
    done = subprocess.run(
        [docker, "info", "--format", "{{json .ClientInfo.Plugins}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        plugins = json.loads(done.stdout) if done.returncode == 0 else []
    except ValueError:
        return None
    for plugin in plugins if isinstance(plugins, list) else []:
        if isinstance(plugin, dict) and plugin.get("Name") == "compose" and not plugin.get("Err"):
            path = plugin.get("Path")
            return path if isinstance(path, str) else None
    return None


def docker_config() -> Path:
    """The user's Docker configuration directory, as the CLI finds it."""
    found = os.environ.get("DOCKER_CONFIG")
    return Path(found) if found else Path.home() / ".docker"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def stack_yaml(
    service_cmd: str = "sleep 3600",
    image: str = IMAGE_V1,
    extra: str = "",
    *,
    service: str = "app",
    top: str = "",
) -> str:
    """A one-service compose file. `extra` is YAML added under the service, `top` at top level.

    network_mode none because the engine's address pools run out after ~30 networks; init so
    the command stops at once on SIGTERM instead of after the 10 s grace period.
    """
    lines = [
        "services:",
        f"  {service}:",
        f"    image: {image}",
        "    network_mode: none",
        "    init: true",
        f"    command: {json.dumps(['sh', '-c', service_cmd])}",
    ]
    lines += ["    " + line for line in _dedent(extra)]
    lines += _dedent(top)
    return "\n".join(lines) + "\n"


def _dedent(text: str) -> list[str]:
    return [line for line in textwrap.dedent(text).splitlines() if line.strip()]


class Pusher:
    """A clone that plays the user's CI: writes files and pushes commits to origin/main."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, relpath: str, text: str) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def link(self, relpath: str, target: str) -> None:
        """A symbolic link at relpath to target (relative to the link's directory)."""
        link = self.path / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)

    def remove(self, relpath: str) -> None:
        git(self.path, "rm", "-r", "-q", "--", relpath)

    def move(self, src: str, dst: str) -> None:
        (self.path / dst).parent.mkdir(parents=True, exist_ok=True)
        git(self.path, "mv", "--", src, dst)

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def commit_and_push(self, message: str) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        git(self.path, "push", "-q", "origin", "HEAD:main")
        return self.head()

    def force_push_rewrite(self) -> str:
        """Amend the last commit (new message, hence a new sha) and force-push it, so the
        commit the host last saw is no longer an ancestor of origin/main."""
        message = git(self.path, "log", "-1", "--format=%B")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--amend", "--allow-empty", "-m", f"{message} (rewritten)")
        git(self.path, "push", "-q", "--force", "origin", "HEAD:main")
        return self.head()


class World:
    """One test's git origin, pusher, host clone and docker wrapper; see the e2e fixture."""

    def __init__(self, tmp: Path, real_docker: str, tag: str | None = None) -> None:
        self.tmp = tmp.resolve()
        self.real_docker = real_docker
        # Short, as it ends every project, container and image name of this test.
        self.tag = tag or uuid.uuid4().hex[:6]
        self.origin = self.tmp / "origin.git"
        self.tmp.joinpath("pusher").mkdir()
        git(self.tmp, "init", "-q", "--bare", "--initial-branch=main", str(self.origin))
        git(self.tmp, "clone", "-q", str(self.origin), "pusher")
        self.pusher = Pusher(self.tmp / "pusher")
        git(self.pusher.path, "symbolic-ref", "HEAD", "refs/heads/main")
        self.pusher.write("README.md", "stacks for e2e tests\n")
        self.pusher.commit_and_push("Initial commit")
        # A unique directory name: products often derive names from it, and tests must not
        # share compose projects.
        self.host = self.tmp / "host" / f"stacks-{self.tag}"
        self.host.parent.mkdir()
        git(self.host.parent, "clone", "-q", "--branch", "main", str(self.origin), self.host.name)
        self.bin_dir = self.tmp / "bin"
        self.bin_dir.mkdir()
        plugin = compose_plugin(real_docker)
        wrapper = self.bin_dir / "docker"
        wrapper.write_text(
            WRAPPER.replace("@DIR@", shlex.quote(str(self.bin_dir)))
            .replace("@REAL@", shlex.quote(real_docker))
            .replace("@REAL_COMPOSE@", shlex.quote(plugin or "false"))
        )
        wrapper.chmod(0o755)
        # The Docker configuration the product runs with: the user's, and the wrapper as
        # the Compose plugin (when the CLI has one).
        self.docker_config: Path | None = None
        if plugin is not None:
            self.docker_config = self.tmp / "docker-config"
            (self.docker_config / "cli-plugins").mkdir(parents=True)
            user = docker_config()
            for entry in user.iterdir() if user.is_dir() else ():
                if entry.name != "cli-plugins":
                    (self.docker_config / entry.name).symlink_to(entry)
            (self.docker_config / "cli-plugins" / "docker-compose").symlink_to(wrapper)
        self.calls_log = self.bin_dir / "calls.log"
        self.calls_log.touch()
        self._calls_seen = 0

    def name(self, base: str) -> str:
        """A stack directory of this test alone, so also its Compose project: ``base-<tag>``."""
        return f"{base}-{self.tag}"

    def names(self, *bases: str) -> tuple[str, ...]:
        """``name`` of each base, to unpack: ``app, web = world.names("app", "web")``."""
        return tuple(self.name(base) for base in bases)

    # -- the product -------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of the product's runs: the docker wrapper first on PATH."""
        env = dict(os.environ)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        if self.docker_config is not None:
            env["DOCKER_CONFIG"] = str(self.docker_config)
        # The checkout under test, whatever is installed in the venv.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.update(extra or {})
        return env

    def run_command(self) -> list[str]:
        """The product's command line for this world's host clone, before any option."""
        return [sys.executable, "-m", "gitops_compose", "--repo", str(self.host), *SETTLE_AT_ONCE]

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        command = self.run_command()
        if "--settle" in args:  # a test of the gate's settle window gives its own
            command = command[: -len(SETTLE_AT_ONCE)]
        # A subcommand comes first, as users type it.
        if args and args[0] in {"plan", "status", "accept-remote", "retry", "sync"}:
            command = [*command[:3], args[0], *command[3:]]
            args = args[1:]
        return subprocess.run(
            [*command, *args],
            cwd=self.host,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- the docker wrapper ------------------------------------------------------------

    def _all_calls(self) -> list[str]:
        return self.calls_log.read_text().splitlines()

    def docker_calls(self) -> list[str]:
        """Calls through the wrapper since the last clear_calls(), one string each."""
        return self._all_calls()[self._calls_seen :]

    def compose_calls(self) -> list[str]:
        return [c for c in self.docker_calls() if c.split(" ", 1)[0] == "compose"]

    def clear_calls(self) -> None:
        # An offset rather than truncation: cleanup still reads every project ever named.
        self._calls_seen = len(self._all_calls())

    def fail_down(self, project: str | None) -> None:
        """Make `docker compose -p PROJECT down` fail from now on; None stops that."""
        flag = self.bin_dir / "fail_down_project"
        if project is None:
            flag.unlink(missing_ok=True)
        else:
            flag.write_text(project)

    def hang_up(self, project: str | None) -> None:
        """Make `docker compose -p PROJECT up` hang from now on; None stops that."""
        flag = self.bin_dir / "hang_up_project"
        if project is None:
            flag.unlink(missing_ok=True)
        else:
            flag.write_text(project)

    def hung_pids(self) -> list[int]:
        """The wrapper and its child of every hung `up` so far."""
        found = self.bin_dir / "hung.pids"
        return [int(each) for each in found.read_text().split()] if found.exists() else []

    # -- the real engine, directly -----------------------------------------------------

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.real_docker, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def _ids(self, kind: str, *filters: str) -> list[str]:
        """ids of containers (kind 'ps'), volumes, networks or images matching the filters."""
        args = ["ps", "-a", "-q"] if kind == "ps" else [kind, "ls", "-q"]
        for f in filters:
            args += ["--filter", f]
        return self.docker(*args).stdout.split()

    def containers(self, project: str) -> list[Container]:
        ids = self._ids("ps", f"label={PROJECT_LABEL}={project}")
        if not ids:
            return []
        found: list[Container] = []
        for c in json.loads(self.docker("inspect", *ids).stdout):
            labels = c["Config"]["Labels"] or {}
            found.append(
                Container(
                    id=c["Id"],
                    name=c["Name"].lstrip("/"),
                    service=labels.get(SERVICE_LABEL, ""),
                    state=c["State"]["Status"],
                    exit_code=c["State"]["ExitCode"],
                    image=c["Config"]["Image"],
                    labels=labels,
                )
            )
        return sorted(found, key=lambda c: (c["service"], c["name"]))

    def volume_exists(self, name: str) -> bool:
        return self.docker("volume", "inspect", name, check=False).returncode == 0

    def exec(self, project: str, service: str, cmd: str | Sequence[str]) -> str:
        """Run cmd (a shell string or argv) in the service's running container."""
        running = [
            c
            for c in self.containers(project)
            if c["service"] == service and c["state"] == "running"
        ]
        if not running:
            raise RuntimeError(f"no running container for {project}/{service}")
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return self.docker("exec", running[0]["id"], *argv).stdout

    # -- teardown ----------------------------------------------------------------------

    def projects(self) -> set[str]:
        """Compose projects this test made: containers whose working dir is under tmp, and
        projects named in its calls to docker, unless their containers live elsewhere."""
        return self._projects(self._labelled("ps"))

    def _labelled(self, kind: str) -> list[tuple[str, str, str]]:
        """(id, project, working dir) of every container (kind 'ps'), volume, network or image
        of any Compose project on the engine: one listing, filtered in Python by the caller.
        Images are listed, then inspected in one call (`image ls` shows no labels)."""
        label = f'{{{{.Label "{PROJECT_LABEL}"}}}}'
        workdir = f'{{{{.Label "{WORKING_DIR_LABEL}"}}}}'
        if kind == "image":
            ids = self._ids("image", f"label={PROJECT_LABEL}")
            if not ids:
                return []
            # Another test may remove one of them meanwhile: inspect says so and goes on.
            fmt = f'{{{{.Id}}}}\t{{{{index .Config.Labels "{PROJECT_LABEL}"}}}}\t'
            listed = self.docker(
                "image", "inspect", "--format", fmt, *sorted(set(ids)), check=False
            )
        else:
            field = {"ps": ".ID", "volume": ".Name", "network": ".ID"}[kind]
            args = ["ps", "-a"] if kind == "ps" else [kind, "ls"]
            fmt = f"{{{{{field}}}}}\t{label}\t{workdir if kind == 'ps' else ''}"
            listed = self.docker(*args, "--filter", f"label={PROJECT_LABEL}", "--format", fmt)
        return [
            (ident, project, path)
            for ident, project, path in (line.split("\t") for line in listed.stdout.splitlines())
        ]

    def _projects(self, containers: list[tuple[str, str, str]]) -> set[str]:
        mine: set[str] = set()
        foreign: set[str] = set()
        for _, project, workdir in containers:
            (mine if Path(workdir).is_relative_to(self.tmp) else foreign).add(project)
        for call in self._all_calls():
            args = call.split()
            if args[:1] != ["compose"]:
                continue
            for flag, value in itertools.pairwise(args):
                if flag in ("-p", "--project-name"):
                    mine.add(value)
            mine.update(a.split("=", 1)[1] for a in args if a.startswith("--project-name="))
        return mine - foreign

    def cleanup(self) -> None:
        """Remove this test's compose projects: containers, volumes, networks and the images
        Compose built for them (else the next run would start the old build). Nothing else.

        One listing and at most one removal per kind, whatever the number of projects (a
        test of fifty stacks made 250 calls here when each project had its own)."""
        containers = self._labelled("ps")
        projects = self._projects(containers)
        if not projects:
            return

        def of_mine(listed: list[tuple[str, str, str]]) -> list[str]:
            return sorted({ident for ident, project, _ in listed if project in projects})

        if ids := of_mine(containers):
            self.docker("rm", "-f", "-v", *ids)
        if ids := of_mine(self._labelled("volume")):
            self.docker("volume", "rm", "-f", *ids)
        if ids := of_mine(self._labelled("network")):
            self.docker("network", "rm", *ids)
        if ids := of_mine(self._labelled("image")):
            self.docker("image", "rm", "-f", *ids)


def metric_samples(exposition: str) -> dict[str, float]:
    """Prometheus text as ``{'name{label=value,...}': value}``, labels sorted."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
    return samples
