"""The health gate: a started stack counts as deployed once it proves it runs.

After ``docker compose up`` exits 0, every service the stack should run must have its
containers running, and healthy where they have a healthcheck, within the health timeout;
then, for a settle window, no container may exit or restart. A one-shot service may have
exited 0 instead: one another service waits for (``service_completed_successfully``), or
one with ``restart: "no"``. A container that exits, restarts or turns unhealthy fails the
gate at once; so does the timeout. Waiting needs no job: the gate is looked at in bulk,
for every stack waiting, once per poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeAlias, final

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.action import StackAction
from gitops_compose.core.reconcile.runtime import ContainerHealth

# Seconds between two looks at the containers of the stacks that wait.
POLL_SECONDS = 1.0


@final
@dataclass(frozen=True, slots=True)
class GateTimes:
    """How long a stack may take to run and be healthy, then how long it must stay so.
    A health timeout of 0 turns the gate off."""

    health_timeout: float = 180.0
    settle: float = 10.0

    @property
    def off(self) -> bool:
        return self.health_timeout <= 0


@final
@dataclass(frozen=True, slots=True)
class Gate:
    """A stack whose ``up`` went well, waiting to prove itself."""

    action: StackAction
    expects: Expectation
    times: GateTimes
    # When its ``up`` ended (Unix seconds), and when every container was first seen
    # running and healthy (the settle window's start).
    opened: float
    settled_from: float | None = None
    # Container id -> its restart count when first seen: a restart after that fails it.
    restarts: Mapping[str, int] = field(default_factory=dict)


@final
@dataclass(frozen=True, slots=True)
class Passed:
    gate: Gate


@final
@dataclass(frozen=True, slots=True)
class Failed:
    gate: Gate
    reason: str
    # The container whose log tells why, when one does.
    culprit: str | None = None


@final
@dataclass(frozen=True, slots=True)
class Waiting:
    gate: Gate


Verdict: TypeAlias = Passed | Failed | Waiting


def judged(gate: Gate, containers: Sequence[ContainerHealth], now: float) -> Verdict:
    """What the containers of a waiting stack say about it at ``now``."""
    by_service: dict[str, list[ContainerHealth]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    restarts = dict(gate.restarts)
    for container in containers:
        restarts.setdefault(container.id, container.restarts)
    gate = replace(gate, restarts=restarts)
    elapsed = now - gate.opened
    pending: list[str] = []
    for service in gate.expects.services:
        found = by_service.get(service, [])
        if not found:
            pending.append(f"{service} has no container")
            continue
        for container in found:
            failure = _failure(gate, service, container)
            if failure is not None:
                return Failed(gate, failure, container.id)
            if container.state == "exited":
                continue  # a one-shot that is done (a failure above otherwise)
            if container.state != "running":
                pending.append(f"{service} {container.state}")
            elif container.health not in (None, "healthy"):
                pending.append(f"{service} {container.health}")
    if pending:
        if elapsed >= gate.times.health_timeout:
            shown = ", ".join(pending)
            return Failed(gate, f"not running and healthy within {_seconds(elapsed)}: {shown}")
        return Waiting(replace(gate, settled_from=None))
    since = gate.settled_from if gate.settled_from is not None else now
    if now - since >= gate.times.settle:
        return Passed(gate)
    return Waiting(replace(gate, settled_from=since))


def _failure(gate: Gate, service: str, container: ContainerHealth) -> str | None:
    if container.state == "exited":
        if container.exit_code == 0 and service in gate.expects.one_shot:
            return None
        after = "" if container.ran is None else f" after {_seconds(container.ran)}"
        return f"exited: {service} exit {container.exit_code}{after}"
    restarted = container.restarts - gate.restarts.get(container.id, container.restarts)
    if container.state == "restarting" or restarted > 0:
        count = max(restarted, container.restarts, 1)
        return f"restarting: {service} ({count} restart{'s' if count != 1 else ''})"
    if container.state == "dead":
        return f"dead: {service}"
    if container.health == "unhealthy":
        streak = container.failing_streak
        times = f" {streak} time{'s' if streak != 1 else ''}" if streak else ""
        return f"unhealthy: {service} (health check failed{times})"
    return None


def _seconds(seconds: float) -> str:
    return f"{max(0, round(seconds))} s"


def next_poll(gates: Sequence[Gate], now: float) -> float:
    """When to look at the waiting stacks again: once a poll, or at a settle window's end
    if that comes first."""
    soonest = now + POLL_SECONDS
    for gate in gates:
        if gate.settled_from is not None:
            soonest = min(soonest, max(now, gate.settled_from + gate.times.settle))
    return soonest
