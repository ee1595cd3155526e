"""Docker Swarm as the host: each stack deployed to the Swarm of the local engine, a manager.

The same protocol as compose_host (the check's loop cannot tell them apart), answered
with Swarm's commands:

- a stack is rendered by ``docker compose config`` (which reads ``.env``, ``env_file``,
  ``extends``, ``include`` and makes paths absolute; ``docker stack deploy`` reads none of
  them), made into what Swarm's loader takes (swarm_support), written to a private file
  in the state directory, never the working tree (it holds the values of variables), and
  deployed with ``docker stack deploy --prune --with-registry-auth`` under the stack's
  project name. Swarm updates only the services whose rendered spec changed;
- the deploy then waits for the stack to converge: every service at its desired replicas
  (a task with a healthcheck runs only once healthy), an update Swarm began completed,
  within the health timeout (else the command timeout). Docker's own waiting
  (``--detach=false``) waits for ever on a new service that never starts, so this waits
  itself. An update Swarm rolled back (``update_config.failure_action: rollback``) or
  paused is an error, naming the service;
- a stack is removed with ``docker stack rm``, which never removes volumes;
- the state of every stack comes from two calls, whatever their number (``docker service
  ls`` of the services with a stack label, ``docker service inspect`` of them all); the
  health gate's look adds one ``docker service ps`` of the services it waits for.

Each service stands for one "container" of the core's view: running when its tasks run
as many as it wants, its restarts the tasks of it that failed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.swarm_support import rendered_for_swarm
from gitops_compose.core.reconcile.action import Rollback, StackAction, Verb
from gitops_compose.core.reconcile.image import RunningImage, RunningImages
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.runtime import Container, ContainerHealth, Health, HostState
from gitops_compose.shell.compose_host import (
    ComposeHost,
    docker_seconds,
    last_lines,
    rollback_files,
    run_docker,
)
from gitops_compose.shell.git_repository import redacted

if TYPE_CHECKING:
    from gitops_compose.core.compose.resource import Resource
    from gitops_compose.core.reconcile.configuration import ConfigQuestion
    from gitops_compose.shell.container_events import ContainerWatch

NAMESPACE = "com.docker.stack.namespace"
_REPLICAS = re.compile(r"^(\d+)/(\d+)")
_ROLLED_BACK = frozenset({"rollback_started", "rollback_paused", "rollback_completed"})
_LOG_LINES = 5
_LOG_CHARACTERS = 600
# Seconds between two looks at a stack converging; how long an update Swarm has not yet
# begun is waited for (a change that starts no task, a label, begins none).
_POLL = 1.0
_UPDATE_GRACE = 5.0
# Clocks: Docker's times and ours may differ by this much (the manager is this machine).
_SLACK = 1.0


def swarm_problem(docker: str) -> str | None:
    """Why this engine cannot deploy stacks to a Swarm, or None: it must be a manager."""
    found = run_docker(
        docker,
        ["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
        timeout=60,
    )
    if isinstance(found, Failure):
        return f"'{docker} info' failed: {found.failure()}"
    state, _, manager = found.unwrap().strip().partition(" ")
    if state != "active":
        return (
            f"--engine swarm: this Docker engine is in no Swarm (its state: {state or '?'});"
            " run 'docker swarm init', or run on a manager"
        )
    if manager != "true":
        return "--engine swarm: this Docker engine is a Swarm worker; run on a manager"
    return None


@final
@dataclass(frozen=True, slots=True)
class SwarmService:
    """A service of a stack, as ``docker service ls`` and ``inspect`` tell it."""

    id: str
    stack: str
    # Its name in the stack's Compose file (Swarm calls it STACK_NAME).
    name: str
    running: int
    desired: int
    # The image with its digest, as Swarm resolved it.
    image: str = ""
    created: float | None = None
    updated: float | None = None
    # Swarm's update of it: updating, paused, completed, rollback_started, ...; when it
    # began, and what Swarm said.
    update: str | None = None
    update_started: float | None = None
    update_message: str = ""
    # Its task template as Docker holds it: when a deploy changes it, Swarm updates the
    # service's tasks (a deploy always bumps UpdatedAt, changed or not).
    template: str = ""

    @property
    def rolled_back(self) -> bool:
        return self.update in _ROLLED_BACK


@final
class SwarmHost:
    def __init__(
        self,
        docker: str,
        workdir: Path,
        timeout: float,
        *,
        rendered: Path,
        converge_timeout: float,
        scratch: Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._docker = docker
        self._workdir = workdir
        self._timeout = timeout
        # Where rendered stacks are written (private: they hold the variables' values).
        self._rendered = rendered
        self._converge_timeout = converge_timeout if converge_timeout > 0 else timeout
        self._scratch = scratch
        self._clock, self._sleep = clock, sleep
        # What it shares with Compose on one engine: Compose itself (to render), the
        # networks and volumes.
        self._compose = ComposeHost(docker, workdir, timeout, scratch)
        # When this process last deployed each stack: a rollback Swarm began before that
        # is history, not the verdict on it. Written by the action's thread, read by the
        # loop's once the action finished.
        self._deployed: dict[str, float] = {}

    def forget_plaintext(self, keep: set[str]) -> None:
        """Nothing is decrypted for a Swarm (see stack.for_swarm): nothing to remove."""

    def compose_problem(self) -> str | None:
        return self._compose.compose_problem()

    def container_events(self) -> ContainerWatch | None:
        """No watch: the gate looks at Swarm's services once a poll."""
        return None

    def state(self) -> Result[HostState, str]:
        """Every stack's services, from ``docker service ls`` and one ``inspect``."""
        return self.services().map(host_state)

    def services(self, stack: str | None = None) -> Result[tuple[SwarmService, ...], str]:
        """The services of every stack (or of one): two calls, one when there is none."""
        label = NAMESPACE if stack is None else f"{NAMESPACE}={stack}"
        listed = self._run(
            ["service", "ls", "--filter", f"label={label}", "--format", "{{.ID}}\t{{.Replicas}}"],
            timeout=min(self._timeout, 120),
        )
        if isinstance(listed, Failure):
            return listed
        replicas = dict(
            line.split("\t", 1) for line in listed.unwrap().splitlines() if "\t" in line
        )
        if not replicas:
            return Success(())
        inspected = self._run(["service", "inspect", *replicas], timeout=min(self._timeout, 120))
        # A service removed between the two calls makes inspect fail: the next look sees.
        return inspected.bind(lambda output: parse_services(output, replicas))

    def resources(self) -> Result[frozenset[Resource], str]:
        return self._compose.resources()

    def config(self, question: ConfigQuestion) -> Result[Mapping[str, str], str]:
        """Swarm stamps no Compose configuration hash: no drift is judged by it."""
        return Success({})

    def health(self, projects: Sequence[str]) -> Result[Health, str]:
        """The services of these stacks, one "container" each, with their failed tasks
        counted as restarts: the two calls of ``services`` and one ``docker service ps``."""
        wanted = set(projects)
        found = self.services()
        if isinstance(found, Failure):
            return found
        services = [each for each in found.unwrap() if each.stack in wanted]
        if not services:
            return Success({})
        tasks = self._run(
            [
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.Name}}\t{{.CurrentState}}",
                *(each.id for each in services),
            ],
            timeout=min(self._timeout, 120),
        )
        if isinstance(tasks, Failure):
            return tasks
        failures = failed_tasks(services, tasks.unwrap())
        return Success(health_of(services, failures, dict(self._deployed)))

    def running_images(self, projects: Sequence[str]) -> Result[RunningImages, str]:
        """The image each service of these stacks runs, as Swarm resolved it (by digest):
        the two calls of ``services``, no image inspect."""
        wanted = set(projects)
        found = self.services()
        if isinstance(found, Failure):
            return found
        running: dict[str, dict[str, RunningImage]] = {}
        for service in found.unwrap():
            if service.stack in wanted and service.image:
                running.setdefault(service.stack, {})[service.name] = RunningImage(
                    service.image, repository_digests(service.image)
                )
        return Success(running)

    def image_digests(self, images: Sequence[str]) -> Result[Mapping[str, tuple[str, ...]], str]:
        """The images of Swarm's services are named with their digest: read from the name."""
        return Success({image: repository_digests(image) for image in images})

    def logs(self, containers: Sequence[str]) -> Mapping[str, str]:
        said: dict[str, str] = {}
        for service in containers:
            found = self._run(
                ["service", "logs", "--tail", str(_LOG_LINES), "--no-task-ids", service],
                timeout=30,
                merged=True,
            )
            if isinstance(found, Success):
                text = last_lines(found.unwrap(), _LOG_LINES)
                if len(text) > _LOG_CHARACTERS:
                    text = "…" + text[-_LOG_CHARACTERS:]
                said[service] = redacted(text)
        return said

    def carry_out(self, action: StackAction) -> Outcome:
        if action.verb is Verb.STOP:
            return Outcome(action, self._remove(action.project))
        directory = self._workdir / action.stack
        files = [self._workdir / each for each in action.compose_files]
        error = self._deploy(action.project, directory, files, action.recreating)
        return Outcome(action, error)

    def roll_back(self, action: Rollback, files: Mapping[str, bytes]) -> str | None:
        """Deploy the stack again from the files it last ran well from, with the images
        (by digest) it ran then."""
        written = rollback_files(self._scratch, self._workdir, action, files, {"image": None})
        if isinstance(written, Failure):
            return str(written.failure())
        root, here, pinned = written.unwrap()
        compose_files = [*(root / each for each in action.compose_files), pinned]
        return self._deploy(action.project, here, compose_files, None)

    # -- deploying -----------------------------------------------------------------------

    def _deploy(
        self,
        project: str,
        directory: Path,
        compose_files: Sequence[Path],
        forced: tuple[str, ...] | None,
    ) -> str | None:
        """Render, deploy and wait for the stack to converge: None, or why not."""
        rendered = self._render(project, directory, compose_files)
        if isinstance(rendered, Failure):
            return str(rendered.failure())
        # What ran before: a service whose task template the deploy changes is updated.
        before = {each.name: each.template for each in self.services(project).value_or(())}
        began = self._clock()
        self._deployed[project] = began
        deployed = self._run(
            [
                "stack",
                "deploy",
                "--compose-file",
                str(rendered.unwrap()),
                "--prune",
                "--with-registry-auth",
                "--detach=true",
                "--quiet",
                project,
            ],
            timeout=self._timeout,
        )
        if isinstance(deployed, Failure):
            return str(deployed.failure())
        # Services whose mounted files changed: Swarm sees no change in their spec.
        for service in forced or ():
            updated = self._run(
                ["service", "update", "--force", "--detach", "--quiet", f"{project}_{service}"],
                timeout=self._timeout,
            )
            if isinstance(updated, Failure):
                return str(updated.failure())
        return self._converged(project, began, before, forced or ())

    def _render(
        self, project: str, directory: Path, compose_files: Sequence[Path]
    ) -> Result[Path, str]:
        command = ["compose", "--ansi", "never", "--project-name", project]
        command += ["--project-directory", str(directory)]
        for each in compose_files:
            command += ["--file", str(each)]
        found = self._run([*command, "config", "--format", "json"], timeout=self._timeout)
        if isinstance(found, Failure):
            return Failure(f"rendering with docker compose config failed: {found.failure()}")
        try:
            document = json.loads(found.unwrap())
        except ValueError as error:
            return Failure(f"docker compose config said what is not JSON: {error}")
        if not isinstance(document, dict):
            return Failure("docker compose config said what is no Compose file")
        target = self._rendered / f"{project}.json"
        try:
            self._rendered.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._rendered.chmod(0o700)
            written = target.with_suffix(".json.new")
            written.touch(mode=0o600)
            written.write_bytes(rendered_for_swarm(document))
            written.replace(target)
        except OSError as error:
            return Failure(f"writing the rendered stack failed: {error.strerror or error}")
        return Success(target)

    def _converged(
        self, project: str, began: float, before: Mapping[str, str], forced: Sequence[str]
    ) -> str | None:
        """Wait for the stack's services to converge after a deploy begun at ``began``
        (``before``: the task templates of its services then)."""
        deadline = began + self._converge_timeout
        while True:
            found = self.services(project)
            if isinstance(found, Failure):
                return f"reading the stack's services failed: {found.failure()}"
            now = self._clock()
            problem, pending = convergence(found.unwrap(), began, now, before, forced)
            if problem is not None:
                return problem
            if not pending:
                return None
            if now >= deadline:
                waited = f"within {round(now - began)} s: {', '.join(pending)}"
                if any("rolled back by Swarm" in each for each in pending):
                    return f"rolled back by Swarm, and not done {waited}"
                return f"not converged {waited}"
            self._sleep(min(_POLL, max(0.0, deadline - now)))

    def _remove(self, project: str) -> str | None:
        """``docker stack rm`` (volumes stay), then wait for its services to be gone, so a
        stack of the same name deployed next does not meet them."""
        removed = self._run(["stack", "rm", project], timeout=self._timeout)
        if isinstance(removed, Failure):
            return str(removed.failure())
        deadline = self._clock() + min(self._timeout, 120)
        while self._clock() < deadline:
            left = self._run(
                ["service", "ls", "--quiet", "--filter", f"label={NAMESPACE}={project}"],
                timeout=60,
            )
            if isinstance(left, Success) and not left.unwrap().split():
                return None
            self._sleep(_POLL)
        return None  # Swarm removes them in its own time: nothing of ours to wait for

    def _run(
        self, arguments: Sequence[str], timeout: float, *, merged: bool = False
    ) -> Result[str, str]:
        return run_docker(self._docker, arguments, timeout, merged=merged)


# --- reading what Docker says ---------------------------------------------------------------


def parse_services(
    output: str, replicas: Mapping[str, str]
) -> Result[tuple[SwarmService, ...], str]:
    """``docker service inspect`` of services, with ``docker service ls``'s replicas by id
    (its short id, or the full one)."""
    try:
        documents = json.loads(output)
    except ValueError as error:
        return Failure(f"docker service inspect said what is not JSON: {error}")
    found: list[SwarmService] = []
    for each in documents if isinstance(documents, list) else ():
        spec = each.get("Spec") or {}
        stack = (spec.get("Labels") or {}).get(NAMESPACE)
        full = str(each.get("ID", ""))
        if not stack:
            continue
        listed = next((value for key, value in replicas.items() if full.startswith(key)), "")
        counted = _REPLICAS.match(listed)
        running, desired = (int(counted[1]), int(counted[2])) if counted else (0, 0)
        name = str(spec.get("Name", ""))
        update = each.get("UpdateStatus") or {}
        container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        found.append(
            SwarmService(
                id=full,
                stack=stack,
                name=name.removeprefix(f"{stack}_"),
                running=running,
                desired=desired,
                image=str(container.get("Image", "")),
                created=docker_seconds(each.get("CreatedAt")),
                updated=docker_seconds(each.get("UpdatedAt")),
                update=update.get("State") or None,
                update_started=docker_seconds(update.get("StartedAt")),
                update_message=str(update.get("Message") or ""),
                template=json.dumps(spec.get("TaskTemplate"), sort_keys=True),
            )
        )
    return Success(tuple(found))


def repository_digests(image: str) -> tuple[str, ...]:
    """``repo:tag@sha256:…``, as Swarm pins a service's image, as Docker records a
    repository digest (``repo@sha256:…``); none for an image not pinned."""
    name, at, digest = image.partition("@")
    if not at or not digest:
        return ()
    colon, slash = name.rfind(":"), name.rfind("/")
    return (f"{name[:colon] if colon > slash else name}@{digest}",)


def host_state(services: Sequence[SwarmService]) -> HostState:
    """Each stack's services as the core sees containers: running when every task it
    wants runs."""
    stacks: dict[str, list[Container]] = {}
    for service in services:
        # Whether Swarm rolled back the last update is the deploy's business (its outcome
        # and its gate): the status stays after a later deploy that changed nothing.
        if service.running >= service.desired:
            state = "running"
        else:
            state = f"{service.running}/{service.desired} replicas running"
        stacks.setdefault(service.stack, []).append(Container(service.name, state))
    return {stack: tuple(found) for stack, found in stacks.items()}


def convergence(
    services: Sequence[SwarmService],
    began: float,
    now: float,
    before: Mapping[str, str],
    forced: Sequence[str] = (),
) -> tuple[str | None, list[str]]:
    """After a deploy begun at ``began``: why the stack failed (an update Swarm rolled back
    or paused since), else what it still waits for (nothing: converged). ``before`` holds
    the task templates of the services before it; those ``forced`` are updated too."""
    pending: list[str] = []
    since = began - _SLACK
    for service in sorted(services, key=lambda each: each.name):
        fresh = service.update_started is not None and service.update_started >= since
        said = f": {service.update_message}" if service.update_message else ""
        if fresh and service.update == "rollback_started":
            # Rolled back it is: what it runs once Swarm is done is waited for.
            pending.append(f"{service.name} rolled back by Swarm, still rolling back")
            continue
        if fresh and service.rolled_back:
            return f"rolled back by Swarm: {service.name}{said}", []
        if fresh and service.update == "paused":
            return f"update paused by Swarm: {service.name}{said}", []
        if fresh and service.update == "updating":
            pending.append(f"{service.name} updating")
            continue
        existed = service.name in before
        changed = service.name in forced or before.get(service.name) != service.template
        if changed and existed and not fresh and now - began < _UPDATE_GRACE:
            pending.append(f"{service.name} update not begun")
            continue
        if service.running < service.desired:
            pending.append(f"{service.name} {service.running}/{service.desired} replicas running")
    return None, pending


def failed_tasks(services: Sequence[SwarmService], output: str) -> dict[str, int]:
    """``docker service ps`` lines (``NAME\\tCURRENT STATE``): failed or rejected tasks by
    service id. A task's name is its service's and a slot (or node) after a dot."""
    names = {f"{each.stack}_{each.name}": each.id for each in services}
    counted = dict.fromkeys(names.values(), 0)
    for line in output.splitlines():
        task, _, state = line.partition("\t")
        # Docker's table indents a slot's earlier tasks with "\_ "; a template may too.
        service, _, _ = task.strip().removeprefix("\\_").strip().rpartition(".")
        if service in names and state.split(" ", 1)[0] in {"Failed", "Rejected"}:
            counted[names[service]] += 1
    return counted


def health_of(
    services: Sequence[SwarmService],
    failures: Mapping[str, int],
    deployed: Mapping[str, float] | None = None,
) -> Health:
    """Each service as one container at its gate: running when every task it wants runs
    (Swarm runs a task with a healthcheck once healthy), its failed tasks as restarts,
    rolled back when Swarm began that after the stack's deploy (``deployed``: when each
    stack was deployed; a stack not in it is judged by what Swarm says alone)."""
    stacks: dict[str, list[ContainerHealth]] = {}
    for service in services:
        since = (deployed or {}).get(service.stack)
        started = service.update_started
        stale = since is not None and (started is None or started < since - _SLACK)
        rolled_back = service.rolled_back and not stale
        running = service.running >= service.desired and not rolled_back
        stacks.setdefault(service.stack, []).append(
            ContainerHealth(
                id=service.id,
                service=service.name,
                state="running" if running else "starting",
                restarts=failures.get(service.id, 0),
                image=service.image,
                # When its spec last changed: a deploy that changed it replaced it; one
                # Swarm rolled back runs what it ran before.
                created=None if rolled_back else service.updated,
                rolled_back=rolled_back,
            )
        )
    return {stack: tuple(found) for stack, found in stacks.items()}
