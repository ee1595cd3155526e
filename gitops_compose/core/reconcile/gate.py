"""The health gate: a started stack counts as deployed once it proves it runs.

After ``docker compose up`` exits 0, every service the stack should run must have its
containers running, and healthy where they have a healthcheck, within the health timeout;
then, for a settle window, no container may exit or restart. A one-shot service may have
exited 0 instead: one another service waits for (``service_completed_successfully``), or
one with ``restart: "no"``. A container that exits, restarts or turns unhealthy fails the
gate at once; so does the timeout. Waiting needs no job: the gate is looked at in bulk,
for every stack waiting at once.

When to look is decided here too. Without a watch, once per poll. With one (the shell
follows Docker's events for the stacks at their gate and says when one came), only when
something may have changed or a verdict is due: an event, the end of a settle window, a
health timeout, and a gate never looked at. While Compose commands still run and end one
after another, a look that could only pass stacks waits for them (unless another stack
waits for the verdict), so a pass of many stacks looks a few times in all, not a few times
each. The events only say when to look; the look (what Docker says of each container) is
the truth: a restart while the watch was down shows in its restart count and last start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias, final

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.action import StackAction
from gitops_compose.core.reconcile.runtime import ContainerHealth
from gitops_compose.core.value import Value, field, replace

# Seconds between two looks at the containers of the stacks that wait.
POLL_SECONDS = 1.0
# With the containers watched, how long a look that could only pass stacks waits for the
# Compose commands still running, after the last gate opened: while they end one after
# another it waits for them all; one that takes long (a pull, a hung ``up``) holds no
# other stack's verdict longer than this.
PATIENCE_SECONDS = 5.0


@final
class GateTimes(Value):
    """How long a stack may take to run and be healthy, then how long it must stay so.
    A health timeout of 0 turns the gate off."""

    health_timeout: float = 180.0
    settle: float = 10.0

    @property
    def off(self) -> bool:
        return self.health_timeout <= 0


@final
class Gate(Value):
    """A stack whose ``up`` went well, waiting to prove itself."""

    action: StackAction
    expects: Expectation
    times: GateTimes
    # When its ``up`` ended (Unix seconds), and when every container was first seen
    # running and healthy (the settle window's start).
    opened: float
    settled_from: float | None = None
    # Container id -> its restart count when the gate opened: a restart after that fails it.
    restarts: Mapping[str, int] = field(default_factory=dict)
    # Whether it was looked at since it opened; whether other stacks wait for its verdict.
    seen: bool = False
    awaited: bool = False


@final
class Passed(Value):
    gate: Gate


@final
class Failed(Value):
    gate: Gate
    reason: str
    # The container whose log tells why, when one does.
    culprit: str | None = None


@final
class Waiting(Value):
    gate: Gate


Verdict: TypeAlias = Passed | Failed | Waiting


def judged(gate: Gate, containers: Sequence[ContainerHealth], now: float) -> Verdict:
    """What the containers of a waiting stack say about it at ``now``."""
    by_service: dict[str, list[ContainerHealth]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    restarts = dict(gate.restarts)
    for container in containers:
        restarts.setdefault(container.id, _restarts_before(gate, container))
    gate = replace(gate, restarts=restarts, seen=True)
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


def _restarts_before(gate: Gate, container: ContainerHealth) -> int:
    """A container's restart count when its gate opened, seen later: what it counts now,
    less the restart that started it again after the gate opened, if one did (Docker counts
    only restarts of its own, so a start after the opening with restarts counted is one)."""
    later = container.started is not None and container.started > gate.opened
    return container.restarts - 1 if later and container.restarts > 0 else container.restarts


def _failure(gate: Gate, service: str, container: ContainerHealth) -> str | None:
    if container.rolled_back:
        return f"rolled back by Swarm: {service}"
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


def next_look(gates: Sequence[Gate], now: float, *, busy: bool, stirred: bool = False) -> float:
    """When to look at the stacks at their gate again, with their containers watched: at
    once when an event of theirs came (``stirred``), a gate never looked at now, a settle
    window at its end, and every gate at its health timeout. While Compose
    commands run (``busy``), the first two wait for them to end, unless another stack waits
    for the verdict or no gate opened for PATIENCE_SECONDS: they could only pass a stack,
    and one look passes them all."""
    if stirred:
        return now
    patience = max((gate.opened for gate in gates), default=now) + PATIENCE_SECONDS
    soonest = math.inf
    for gate in gates:
        soonest = min(soonest, gate.opened + gate.times.health_timeout)
        due = now if not gate.seen else None
        if gate.settled_from is not None:
            due = gate.settled_from + gate.times.settle
        if due is not None:
            soonest = min(soonest, due if not busy or gate.awaited else max(due, patience))
    return max(now, soonest)
