"""The Docker host, through the ``docker`` CLI and its Compose v2 plugin as subprocesses.

Every Compose call names the project, its files and its directory, so nothing depends on the
caller's working directory or environment. One ``docker ps`` gives the state of every
Compose project at once. Volumes are never removed.

Compose runs as the plugin ``docker compose`` would run, called directly: ``docker`` itself
would start, then start the plugin once to read its metadata and once more to run it, three
programs where one does the work (some 60 ms of CPU per call, as much as Compose itself
spends on many a command). Which plugin that is, the ``docker`` CLI says, once a process
(``docker info`` on the client's side alone); called on its own, the plugin reads the
arguments that follow ``compose`` as ``docker compose`` does. When the CLI does not say,
Compose runs through ``docker compose``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.resource import Resource, ResourceKind
from gitops_compose.core.reconcile.action import Rollback, StackAction, Verb
from gitops_compose.core.reconcile.image import RunningImage, RunningImages
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.runtime import Container, ContainerHealth, Health, HostState
from gitops_compose.core.value import replace
from gitops_compose.shell import log
from gitops_compose.shell.container_events import ContainerEvents
from gitops_compose.shell.git_repository import redacted

if TYPE_CHECKING:
    from gitops_compose.core.compose.secret_file import SecretFile
    from gitops_compose.core.reconcile.configuration import ConfigQuestion
    from gitops_compose.shell.features import SecretFiles

_PROJECT = "com.docker.compose.project"
_SERVICE = "com.docker.compose.service"
_ONE_OFF = "com.docker.compose.oneoff"
_CONFIG_HASH = "com.docker.compose.config-hash"
_WORKING_DIR = "com.docker.compose.project.working_dir"
_PS_FORMAT = "\t".join(
    (
        f'{{{{.Label "{_PROJECT}"}}}}',
        f'{{{{.Label "{_SERVICE}"}}}}',
        "{{.State}}",
        "{{.Status}}",
        f'{{{{.Label "{_CONFIG_HASH}"}}}}',
        f'{{{{.Label "{_WORKING_DIR}"}}}}',
    )
)
_EXITED = re.compile(r"^Exited \((-?\d+)\)")
# What of a container's log goes into the reason of a failed health gate.
_LOG_LINES = 5
_LOG_CHARACTERS = 600
# Variables that would make Compose load other files, profiles or a project name than the
# ones the plan was made from; the rest of the environment passes, as with Compose itself.
_MODEL_CHANGING = frozenset(
    {
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_PROFILES",
        "COMPOSE_ENV_FILES",
        "COMPOSE_PATH_SEPARATOR",
        "COMPOSE_IGNORE_ORPHANS",
        "COMPOSE_REMOVE_ORPHANS",
        # Credentials of the product's own: an age key is for sops alone, the webhook's
        # secret, the forge's token and the notification URLs (which carry tokens) for
        # this process. Compose, and a stack interpolating them, never see them.
        "SOPS_AGE_KEY",
        "GITOPS_WEBHOOK_SECRET",
        "GITOPS_FORGE_TOKEN",
        "GITOPS_NOTIFY_URLS",
    }
)
_ERROR_LINES = 12


def compose_environment() -> dict[str, str]:
    """The environment Compose runs with: ours, without the variables above."""
    return {k: v for k, v in os.environ.items() if k not in _MODEL_CHANGING}


def docker_missing(docker: str) -> str | None:
    """Why there is no ``docker`` command to run, or None: no subprocess, so it is cheap."""
    if shutil.which(docker) is None:
        return f"no {docker!r} command on PATH; install Docker's CLI"
    return None


def compose_problem(docker: str) -> str | None:
    """Why this host cannot run Compose v2 through ``docker``, or None."""
    return compose_program(docker).swap().value_or(None)


def compose_program(docker: str) -> Result[tuple[str, ...], str]:
    """What runs Compose v2 here, the words that stand for ``docker compose`` before its
    arguments: the plugin ``docker compose`` runs, alone, or ``docker compose`` itself when
    the CLI does not name it; or why there is no Compose v2."""
    missing = docker_missing(docker)
    if missing is not None:
        return Failure(missing)
    listed = run_docker(docker, ["info", "--format", "{{json .ClientInfo.Plugins}}"], timeout=30)
    plugin = listed.map(compose_plugin).value_or(None)
    if plugin is not None:
        path, version = plugin
        if version.lstrip("v").startswith("2."):
            return Success((path,))
        return Failure(f"Docker Compose v2 is required ('{docker} compose version': {version})")
    problem = _compose_version_problem(docker)
    return Success((docker, "compose")) if problem is None else Failure(problem)


def compose_plugin(listing: str) -> tuple[str, str] | None:
    """The path and version of the Compose plugin in the ``docker`` CLI's list of its
    plugins (``docker info --format '{{json .ClientInfo.Plugins}}'``), or None."""
    try:
        plugins = json.loads(listing)
    except ValueError:
        return None
    for plugin in plugins if isinstance(plugins, list) else ():
        if not isinstance(plugin, dict) or plugin.get("Name") != "compose" or plugin.get("Err"):
            continue
        path, version = plugin.get("Path"), plugin.get("Version")
        if isinstance(path, str) and os.path.isabs(path) and isinstance(version, str):
            return path, version
    return None


def _compose_version_problem(docker: str) -> str | None:
    """Why ``docker compose version`` does not say Compose v2, or None."""
    try:
        found = subprocess.run(
            [docker, "compose", "version", "--short"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"'{docker} compose version' failed: {error}"
    version = found.stdout.strip().lstrip("v")
    if found.returncode != 0 or not version.startswith("2."):
        said = last_lines(found.stderr or found.stdout, 1) or "no version"
        return f"Docker Compose v2 is required ('{docker} compose version': {said})"
    return None


@final
class ComposeHost:
    def __init__(
        self,
        docker: str,
        workdir: Path,
        timeout: float,
        scratch: Path | None = None,
        *,
        secrets: SecretFiles | None = None,
    ) -> None:
        self._docker = docker
        self._workdir = workdir
        self._timeout = timeout
        # Where a rollback puts the files it runs from (in the state directory).
        self._scratch = scratch
        # What runs Compose once it is found (see compose_program); ``docker compose`` until.
        self._compose: tuple[str, ...] | None = None
        # Where decrypted secret files go, and their decryption, loaded at the first
        # stack that has some (see features); None: no stack's secrets can be decrypted.
        self._secrets = secrets

    def forget_plaintext(self, keep: set[str]) -> None:
        """Remove the decrypted files of every project but these (see plaintext)."""
        if self._secrets is not None:
            self._secrets.plaintext.sweep(keep)

    def compose_problem(self) -> str | None:
        """Asked before the first Compose command of a check, not before: a check that runs
        none (the usual one) pays nothing for it. Once found, it is not asked again."""
        if self._compose is not None:
            return None
        found = compose_program(self._docker)
        self._compose = found.value_or(None)
        return found.swap().value_or(None)

    def state(self) -> Result[HostState, str]:
        """Every Compose project's containers, from a single ``docker ps``."""
        return self._containers(_PS_FORMAT).map(parse_ps)

    def _containers(self, fields: str) -> Result[str, str]:
        """``docker ps`` of every container Compose made for a project (not one-offs)."""
        return self._run(
            [
                "ps",
                "--all",
                "--no-trunc",
                "--filter",
                f"label={_PROJECT}",
                "--filter",
                f"label={_ONE_OFF}=False",
                "--format",
                fields,
            ],
            timeout=min(self._timeout, 120),
        )

    def health(self, projects: Sequence[str]) -> Result[Health, str]:
        """The containers of these projects, for their health gates: one ``docker ps`` for
        their ids, one ``docker inspect`` of them all."""
        wanted = set(projects)
        listed = self._containers(f'{{{{.ID}}}}\t{{{{.Label "{_PROJECT}"}}}}')
        if isinstance(listed, Failure):
            return listed
        ids = [
            fields[0]
            for line in listed.unwrap().splitlines()
            if len(fields := line.split("\t")) == 2 and fields[1] in wanted
        ]
        if not ids:
            return Success({})
        inspected = self._run(["inspect", *ids], timeout=min(self._timeout, 120))
        # A container removed between the two calls makes inspect fail: the next poll sees.
        return inspected.bind(parse_inspect)

    def running_images(self, projects: Sequence[str]) -> Result[RunningImages, str]:
        """The image each service of these projects runs (its first running container's):
        one ``docker ps`` and one ``docker inspect`` for the containers, one ``docker
        image inspect`` for their images' repository digests."""
        wanted = set(projects)
        listed = self._containers(
            f'{{{{.ID}}}}\t{{{{.Label "{_PROJECT}"}}}}\t{{{{.Label "{_SERVICE}"}}}}\t{{{{.State}}}}'
        )
        if isinstance(listed, Failure):
            return listed
        ids: dict[tuple[str, str], str] = {}
        for line in listed.unwrap().splitlines():
            fields = line.split("\t")
            if len(fields) != 4 or fields[1] not in wanted:
                continue
            key = (fields[1], fields[2])
            if key not in ids or fields[3] == "running":
                ids[key] = fields[0]
        if not ids:
            return Success({})
        inspected = self._run(
            ["inspect", "--type", "container", "--format", "{{.Id}}\t{{.Image}}", *ids.values()],
            timeout=min(self._timeout, 120),
        )
        if isinstance(inspected, Failure):
            return inspected
        image_of = dict(
            line.split("\t", 1) for line in inspected.unwrap().splitlines() if "\t" in line
        )
        described = self.image_digests(sorted(set(image_of.values())))
        if isinstance(described, Failure):
            return described
        digests = described.unwrap()
        running: dict[str, dict[str, RunningImage]] = {}
        for (project, service), container in ids.items():
            runs = image_of.get(container)
            if runs is not None:
                running.setdefault(project, {})[service] = RunningImage(runs, digests.get(runs, ()))
        return Success(running)

    def image_digests(self, images: Sequence[str]) -> Result[Mapping[str, tuple[str, ...]], str]:
        """The repository digests Docker recorded for these images (ids): one ``docker
        image inspect``."""
        if not images:
            return Success({})
        described = self._run(
            ["image", "inspect", "--format", "{{.Id}}\t{{json .RepoDigests}}", *images],
            timeout=min(self._timeout, 120),
        )
        if isinstance(described, Failure):
            return described
        digests: dict[str, tuple[str, ...]] = {}
        for line in described.unwrap().splitlines():
            image, _, listed = line.partition("\t")
            try:
                found = json.loads(listed)
            except ValueError:
                found = None
            digests[image] = tuple(str(each) for each in found or ())
        return Success(digests)

    def container_events(self) -> ContainerEvents:
        """A watch on the containers of the stacks at their health gate (one ``docker
        events`` stream, started at the first look at a gate)."""
        environment = compose_environment()
        return ContainerEvents(self._docker, environment)

    def logs(self, containers: Sequence[str]) -> Mapping[str, str]:
        said: dict[str, str] = {}
        for container in containers:
            found = self._run(
                ["logs", "--tail", str(_LOG_LINES), container], timeout=30, merged=True
            )
            if isinstance(found, Success):
                text = last_lines(found.unwrap(), _LOG_LINES)
                if len(text) > _LOG_CHARACTERS:
                    text = "…" + text[-_LOG_CHARACTERS:]
                said[container] = redacted(text)
        return said

    def roll_back(self, action: Rollback, files: Mapping[str, bytes]) -> str | None:
        """Run the stack again from the files it last ran well from, written out beside
        the clone (which stays at the new commit), with the images it ran then."""
        pins = {"image": None, "pull_policy": "never"}
        written = rollback_files(self._scratch, self._workdir, action, files, pins)
        if isinstance(written, Failure):
            return str(written.failure())
        root, here, pinned = written.unwrap()
        command = ["compose", "--ansi", "never", "--project-name", action.project]
        command += ["--project-directory", str(here)]
        for each in (*action.compose_files, pinned.name):
            command += ["--file", str(root / each)]
        command += ["up", "--detach", "--remove-orphans", "--force-recreate"]
        if action.images:
            command += ["--pull", "never"]
        if action.secret_files:
            # The last good commit's secret files, decrypted as for a start.
            found = self._decrypted(
                [command],
                project=action.project,
                stack=action.stack,
                compose_files=action.compose_files,
                secrets=action.secret_files,
                base=root,
            )
            if isinstance(found, Failure):
                return str(found.failure())
            command = found.unwrap()[0]
        return self._run(command, timeout=self._timeout).swap().value_or(None)

    def _decrypted(
        self,
        commands: Sequence[Sequence[str]],
        *,
        project: str,
        stack: str,
        compose_files: Sequence[str],
        secrets: Sequence[SecretFile],
        base: Path,
    ) -> Result[list[list[str]], str]:
        """Compose's commands pointed at the stack's secret files, decrypted (see
        decryption)."""
        if self._secrets is None:
            return Failure(f"cannot decrypt {secrets[0].path}: no private directory for it")
        return self._secrets.decryption().redirected(
            commands,
            project=project,
            stack=stack,
            compose_files=compose_files,
            secrets=secrets,
            base=base,
        )

    def config(self, question: ConfigQuestion) -> Result[Mapping[str, str], str]:
        """The configuration hash of each service of a stack, as Compose computes it from
        the clone's files (``config --hash '*'``: one ``service hash`` line each)."""
        where = ["compose", "--ansi", "never", "--project-name", question.project]
        where += ["--project-directory", str(self._workdir / question.stack)]
        for each in question.compose_files:
            where += ["--file", str(self._workdir / each)]
        found = self._run([*where, "config", "--hash", "*"], timeout=min(self._timeout, 120))
        return found.map(parse_config_hashes)

    def resources(self) -> Result[frozenset[Resource], str]:
        """The host's networks and volumes by name: one call for each kind."""
        found: set[Resource] = set()
        for kind in ResourceKind:
            listed = self._run(
                [kind.value, "ls", "--format", "{{.Name}}"], timeout=min(self._timeout, 120)
            )
            if isinstance(listed, Failure):
                return listed
            found |= {Resource(kind, name) for name in listed.unwrap().split()}
        return Success(frozenset(found))

    def carry_out(self, action: StackAction) -> Outcome:
        stopping = action.verb is Verb.STOP
        commands = self.commands(action)
        if stopping and {each.path for each in action.secret_files} & set(action.compose_files):
            # Compose cannot read an encrypted Compose file: it stops the project by name.
            commands = self.commands(replace(action, compose_files=()))
        if action.secret_files and not stopping:
            found = self._decrypted(
                commands,
                project=action.project,
                stack=action.stack,
                compose_files=action.compose_files,
                secrets=action.secret_files,
                base=self._workdir,
            )
            if isinstance(found, Failure):
                return Outcome(action=action, error=found.failure())
            commands = found.unwrap()
        for command in commands:
            done = self._run(command, timeout=self._timeout)
            if isinstance(done, Failure):
                return Outcome(action=action, error=done.failure())
        if stopping and self._secrets is not None:
            self._secrets.plaintext.remove(action.project)  # its decrypted files go with it
        return Outcome(action=action)

    def commands(self, action: StackAction) -> list[list[str]]:
        """The Compose commands of an action, run one after the other, as the action says
        what to recreate by force (see StackAction.recreating)."""
        only = action.image_services
        if only is not None:
            # An image update: those services' images alone are pulled, and only they are
            # recreated (the others' tags may be cooling down, or never followed).
            full = self.command(action)
            where = full[: full.index("up")]
            recreate = ["up", "--detach", "--no-deps", "--force-recreate", *only]
            return [[*where, "pull", *only], [*where, *recreate]]
        command = self.command(action)
        named = action.recreating
        if named is None:
            return [command]
        command = [each for each in command if each != "--force-recreate"]
        if not named:
            return [command]
        at = command.index("up")
        recreate = [*command[:at], "up", "--detach", "--no-deps", "--force-recreate"]
        return [command, [*recreate, *named]]

    def command(self, action: StackAction) -> list[str]:

        directory = self._workdir / action.stack
        where = ["compose", "--ansi", "never", "--project-name", action.project]
        if action.compose_files:
            where += ["--project-directory", str(directory)]
            for each in action.compose_files:
                where += ["--file", str(self._workdir / each)]
        build = ["--build"] if action.build else []
        match action.verb:
            case Verb.STOP:
                # Without --volumes: a removed stack's data stays on the host.
                return [*where, "down", "--remove-orphans"]
            case Verb.START:
                # A new stack may find an image Compose built for it long ago (images
                # outlive a removal): the plan asks for a build then.
                return [*where, "up", "--detach", "--remove-orphans", *build]
            case Verb.RESTART:
                # Recreate even when Compose sees no change in the config: a changed mounted
                # file does not show in it. A changed Dockerfile does not either: without
                # --build, Compose would keep the image it built before.
                return [
                    *where,
                    "up",
                    "--detach",
                    "--remove-orphans",
                    "--pull",
                    "always",
                    *build,
                    "--force-recreate",
                ]

    def _run(
        self, arguments: Sequence[str], timeout: float, *, merged: bool = False
    ) -> Result[str, str]:
        command = None
        if self._compose is not None and arguments[:1] == ["compose"]:
            command = [*self._compose, *arguments[1:]]
        return run_docker(self._docker, arguments, timeout, merged=merged, command=command)


def run_docker(
    docker: str,
    arguments: Sequence[str],
    timeout: float,
    *,
    merged: bool = False,
    command: Sequence[str] | None = None,
) -> Result[str, str]:
    """stdout (with stderr when ``merged``) of a ``docker`` command, or why it failed. It
    runs ``command`` instead when given (the Compose plugin on its own, see
    compose_program), named as the ``docker`` command all the same in logs and messages."""
    command = [docker, *arguments] if command is None else list(command)
    began = time.monotonic()
    try:
        # A new session keeps a Ctrl-C meant for us from killing Compose half-way, and
        # makes the command the leader of a process group of its own.
        process = subprocess.Popen(
            command,
            env=compose_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        return Failure(f"{docker}: {error}")
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # `docker` runs Compose as a plugin, a process of its own: kill the whole group,
        # or the plugin goes on after its command was given up.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)
        return Failure(
            f"timed out after {timeout:g} s and killed with all it started: "
            f"{docker} {_named(arguments)}"
        )
    log.event(
        "docker",
        logging.DEBUG,
        command=f"{docker} {_named(arguments)}",
        exit=process.returncode,
        duration=time.monotonic() - began,
    )
    if process.returncode != 0:
        said = last_lines(stderr or "", _ERROR_LINES) or last_lines(stdout, 3)
        return Failure(f"exit {process.returncode}: {said or 'no message'}")
    return Success(stdout)


def rollback_files(
    scratch: Path | None,
    workdir: Path,
    action: Rollback,
    files: Mapping[str, bytes],
    pins: Mapping[str, str | None],
) -> Result[tuple[Path, Path, Path], str]:
    """The files a stack last ran well from, written out under ``scratch`` (the clone stays
    at the new commit), and an override pinning its services to the images it ran then
    (``pins``, its ``image`` None, is what each service gets): the root they are under,
    the stack's directory there and the override."""
    if scratch is None:
        return Failure("no directory to put the files it ran from in")
    root = scratch / action.project
    try:
        shutil.rmtree(root, ignore_errors=True)  # our own copy, of an earlier rollback
        for path, content in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        here, real = root / action.stack, workdir / action.stack
        here.mkdir(parents=True, exist_ok=True)
        # What git does not track (data directories, an .env kept out of git) is the
        # host's own: linked, never copied, so the stack finds it as it left it.
        for entry in real.iterdir() if real.is_dir() else ():
            if not (here / entry.name).exists() and not (here / entry.name).is_symlink():
                (here / entry.name).symlink_to(entry)
        pinned = root / ".gitops-rollback-images.yaml"
        services = {service: {**pins, "image": image} for service, image in action.images}
        pinned.write_text(json.dumps({"services": services}))  # JSON is YAML
    except OSError as error:
        return Failure(f"writing the files of {action.commit[:12]} failed: {error}")
    return Success((root, here, pinned))


def parse_ps(output: str) -> HostState:
    projects: dict[str, list[Container]] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) != 6 or not fields[0]:
            continue
        project, service, state, status, config_hash, working_dir = fields
        exited = _EXITED.match(status)
        projects.setdefault(project, []).append(
            Container(
                service=service,
                state=state,
                exit_code=int(exited.group(1)) if exited else None,
                config_hash=config_hash or None,
                working_dir=working_dir or None,
            )
        )
    return {project: tuple(containers) for project, containers in projects.items()}


def parse_config_hashes(output: str) -> Mapping[str, str]:
    """``config --hash`` output: service -> hash."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        service, _, hashed = line.strip().partition(" ")
        if service and hashed:
            found[service] = hashed.strip()
    return found


def parse_inspect(output: str) -> Result[Health, str]:
    """``docker inspect`` of containers, as the health gate reads them, by project."""
    try:
        documents = json.loads(output)
    except ValueError as error:
        return Failure(f"docker inspect said what is not JSON: {error}")
    projects: dict[str, list[ContainerHealth]] = {}
    for each in documents if isinstance(documents, list) else ():
        state = each.get("State") or {}
        labels = (each.get("Config") or {}).get("Labels") or {}
        health = state.get("Health") or {}
        exited = state.get("Status") == "exited"
        projects.setdefault(labels.get(_PROJECT, ""), []).append(
            ContainerHealth(
                id=str(each.get("Id", "")),
                service=labels.get(_SERVICE, ""),
                state=str(state.get("Status", "")),
                exit_code=state.get("ExitCode") if exited else None,
                health=health.get("Status") or None,
                failing_streak=int(health.get("FailingStreak") or 0),
                restarts=int(each.get("RestartCount") or 0),
                ran=_ran(state) if exited else None,
                image=str(each.get("Image", "")),
                created=docker_seconds(each.get("Created")),
                started=docker_seconds(state.get("StartedAt")),
            )
        )
    return Success({project: tuple(found) for project, found in projects.items()})


def _ran(state: Mapping[str, object]) -> float | None:
    """Seconds from StartedAt to FinishedAt, to the second."""
    started = docker_seconds(state.get("StartedAt"))
    finished = docker_seconds(state.get("FinishedAt"))
    if started is None or finished is None or finished < started:
        return None
    return finished - started


def docker_seconds(stamp: object) -> float | None:
    """Docker's RFC 3339 time (UTC, nanoseconds) as Unix seconds, to the microsecond
    (whether a container was made before or after a check began can be a matter of ms)."""
    whole, _, fraction = str(stamp).rstrip("Z").partition(".")
    try:
        seconds = datetime.datetime.fromisoformat(whole + "+00:00").timestamp()
    except ValueError:
        return None
    digits = fraction[:6]
    return seconds + (int(digits) / 10 ** len(digits) if digits.isdigit() else 0.0)


def _named(arguments: Sequence[str]) -> str:
    """A command as a person would name it: without its files, directory and colours."""
    shown: list[str] = []
    skip = False
    for each in arguments:
        if not skip and each not in _PLACES:
            shown.append(each)
        skip = not skip and each in _PLACES
    return " ".join(shown)


_PLACES = frozenset({"--project-directory", "--file", "--ansi", "--env-file"})


def last_lines(text: str, count: int) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])
