"""A model of the Docker host (project -> containers) that carries out a plan as Compose would.

Independent of the core's own idea of "running": ``is_up`` is written out again here, so a
property that checks the host after ``apply`` does not just repeat the planner's logic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from gitops_compose.core.compose.stack import Stack, Stacks
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.plan import Plan, StackAction, Verb
from gitops_compose.core.reconcile.runtime import Container

Host = dict[str, tuple[Container, ...]]
INJECTED = "injected failure: pull access denied"


def apply(
    plan: Plan, host: Mapping[str, Sequence[Container]], remote: Stacks, failures: Collection[str]
) -> tuple[Host, tuple[Outcome, ...]]:
    """Carry out ``plan`` phase by phase; an action on a stack path in ``failures`` fails
    and leaves the host as it was. A stop removes the project's containers; a start or
    restart gives every service the stack starts one fresh container: running, or exited 0
    for a one-shot service."""
    after: Host = {project: tuple(containers) for project, containers in host.items()}
    outcomes = []
    for phase in plan.phases():
        for action in phase:
            if not isinstance(action, StackAction):
                continue  # the fast-forward: the model has no files
            if action.stack in failures:
                outcomes.append(Outcome(action, INJECTED))
                continue
            if action.verb is Verb.STOP:
                after.pop(action.project, None)
            else:
                fresh = containers_for(remote.valid[action.stack])
                if fresh:
                    after[action.project] = fresh
                else:
                    after.pop(action.project, None)
            outcomes.append(Outcome(action))
    return after, tuple(outcomes)


def containers_for(stack: Stack) -> tuple[Container, ...]:
    return tuple(
        Container(each.name, "exited", 0) if each.one_shot else Container(each.name, "running")
        for each in stack.services
        if each.expected
    )


def is_up(host: Mapping[str, Sequence[Container]], stack: Stack) -> bool:
    """Every service the stack starts has containers, all running (a one-shot: exited 0)."""
    containers = host.get(stack.project, ())
    for service in stack.services:
        if not service.expected:
            continue
        mine = [each for each in containers if each.service == service.name]
        finished = [each for each in mine if each.state == "exited" and each.exit_code == 0]
        fine = [each for each in mine if each.state == "running"] + (
            finished if service.one_shot else []
        )
        if not mine or len(fine) != len(mine):
            return False
    return True
