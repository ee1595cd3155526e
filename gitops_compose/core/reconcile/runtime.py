"""The host's Compose projects as the shell saw them, and what "fully running" means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import final

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.value import Value


@final
class Container(Value):
    service: str
    # Docker's container state: created, running, restarting, paused, exited, dead.
    state: str
    exit_code: int | None = None
    # The configuration Compose stamped on it (``com.docker.compose.config-hash``) and the
    # directory its project was started from (``com.docker.compose.project.working_dir``).
    config_hash: str | None = None
    working_dir: str | None = None


# Compose project name -> its containers, as labelled by Compose.
HostState = Mapping[str, Sequence[Container]]


@final
class ContainerHealth(Value):
    """A container of a stack that waits at its health gate, as Docker inspects it."""

    id: str
    service: str
    # Docker's container state: created, running, restarting, paused, exited, dead.
    state: str
    exit_code: int | None = None
    # healthy, unhealthy or starting; None for a container without a healthcheck.
    health: str | None = None
    # Health checks failed in a row.
    failing_streak: int = 0
    # Times Docker restarted it (its restart policy at work).
    restarts: int = 0
    # For an exited container: how long it ran (seconds), when Docker says.
    ran: float | None = None
    # The id of the image it runs (sha256:...), whatever tag named it.
    image: str = ""
    # When Docker created it, and when it last started (Unix seconds), when Docker says: a
    # start after its gate opened, with restarts counted, is a restart the gate must see.
    created: float | None = None
    started: float | None = None
    # Under Docker Swarm, one container stands for a service: Swarm rolled its update back
    # (``update_config.failure_action: rollback``), so it runs what it ran before.
    rolled_back: bool = False


# Compose project name -> the containers of it, for the projects asked about.
Health = Mapping[str, Sequence[ContainerHealth]]


def not_running_reason(expects: Expectation, containers: Sequence[Container]) -> str | None:
    """Why a stack is not fully running, or None when every service it starts runs.

    A service runs when it has containers and all of them run. A one-shot service (another
    service waits for it to complete) may instead have exited 0. Services Compose does not
    start by default (profiles, scale 0) are not expected. The services of included Compose
    files are unknown here: such a stack runs when it has containers and its own services
    run.
    """
    if not containers and (expects.includes or expects.services):
        return "no containers"
    # The common case on every full pass, in one sweep: everything runs and every expected
    # service has a container.
    if all(each.state == "running" for each in containers):
        present = {each.service for each in containers}
        if all(name in present for name in expects.services):
            return None
    by_service: dict[str, list[Container]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    problems = []
    for name in expects.services:
        found = by_service.get(name, [])
        if not found:
            problems.append(f"{name} has no container")
            continue
        for container in found:
            if container.state == "running":
                continue
            finished = container.state == "exited" and container.exit_code == 0
            if finished and name in expects.one_shot:
                continue
            problems.append(_describe(name, container))
            break
    return ", ".join(problems) or None


def _describe(service: str, container: Container) -> str:
    if container.state == "exited" and container.exit_code is not None:
        return f"{service} exited {container.exit_code}"
    return f"{service} {container.state}"
