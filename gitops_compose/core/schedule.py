"""Which of a plan's actions may run now, and what a failure keeps from starting.

The stops run first, each before the stops of the stacks it uses; then the fast-forward,
alone; then starts and restarts, each after the stacks it depends on. Up to ``jobs``
actions run at once, an action starting as soon as what it comes after is done. Among
actions ready together the plan's order decides (phase, then path), so with one job at a
time a check runs in the order of its plan.

A start whose dependency failed in this check is never tried: it fails with the reason
``waiting for reverse_proxy, which failed``, naming the stack whose own action failed.
A stop waits for its users' stops but is tried whatever they did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import final

from gitops_compose.core.action import Action, FastForward, StackAction, Verb
from gitops_compose.core.outcome import Outcome


@final
@dataclass(frozen=True, slots=True)
class Schedule:
    actions: tuple[Action, ...]
    # Per action (by index): the actions it comes after, and those of them whose success
    # it needs.
    after: tuple[frozenset[int], ...]
    needs: tuple[frozenset[int], ...]
    # Stack path -> why its actions cannot start at all (Plan.blocked).
    blocked: Mapping[str, str]
    jobs: int
    running: frozenset[int] = frozenset()
    # Index -> whether it succeeded, for every action done or given up.
    done: Mapping[int, bool] = field(default_factory=dict)
    # Stack path -> the stack whose own failure it traces back to.
    failed_root: Mapping[str, str] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return bool(self.running)

    @property
    def finished(self) -> bool:
        """Every action was done or given up."""
        return len(self.done) == len(self.actions)

    def left(self) -> tuple[Action, ...]:
        """Actions never started (after a stop was asked for, or a failed fast-forward)."""
        return tuple(
            each
            for index, each in enumerate(self.actions)
            if index not in self.done and index not in self.running
        )

    def given_up(self) -> tuple[Schedule, tuple[Outcome, ...]]:
        """Ready actions that cannot start, as failed outcomes: blocked, or after a failed
        dependency. Repeats until none is left, so a chain fails at once."""
        schedule, outcomes = self, list[Outcome]()
        while True:
            found = None
            for index in schedule._ready():
                action = schedule.actions[index]
                if not isinstance(action, StackAction):
                    continue
                failed = [i for i in schedule.needs[index] if not schedule.done[i]]
                if failed:
                    first = schedule.actions[min(failed)]
                    assert isinstance(first, StackAction)
                    root = schedule.failed_root.get(first.stack, first.stack)
                    found = (
                        index,
                        Outcome(action, f"waiting for {root}, which failed", blocked_by=root),
                        root,
                    )
                    break
                if action.verb is not Verb.STOP and action.stack in schedule.blocked:
                    found = (index, Outcome(action, schedule.blocked[action.stack]), action.stack)
                    break
            if found is None:
                return schedule, tuple(outcomes)
            index, outcome, root = found
            outcomes.append(outcome)
            schedule = replace(
                schedule,
                done={**schedule.done, index: False},
                failed_root={**schedule.failed_root, outcome.action.stack: root},
            )

    def startable(self) -> tuple[Schedule, tuple[Action, ...]]:
        """The ready actions that may start now, within ``jobs``, marked as running."""
        room = self.jobs - len(self.running)
        chosen = tuple(self._ready())[: max(0, room)]
        if not chosen:
            return self, ()
        return (
            replace(self, running=self.running | frozenset(chosen)),
            tuple(self.actions[index] for index in chosen),
        )

    def settled(self, action: Action, ok: bool) -> Schedule:
        index = self.actions.index(action)
        roots = dict(self.failed_root)
        if not ok and isinstance(action, StackAction):
            roots[action.stack] = action.stack
        return replace(
            self,
            running=self.running - {index},
            done={**self.done, index: ok},
            failed_root=roots,
        )

    def fast_forward_failed(self) -> bool:
        return any(
            isinstance(self.actions[index], FastForward) and not ok
            for index, ok in self.done.items()
        )

    def _ready(self) -> list[int]:
        """Not started, and everything it comes after is done; in the plan's order."""
        if self.fast_forward_failed():
            return []  # without the new files nothing after it can run
        return [
            index
            for index in range(len(self.actions))
            if index not in self.done
            and index not in self.running
            and all(each in self.done for each in self.after[index])
        ]


def schedule_of(actions: tuple[Action, ...], blocked: Mapping[str, str], jobs: int) -> Schedule:
    """``actions`` in the plan's order; each names the stacks it comes after (see plan)."""
    stops = {
        each.stack: index
        for index, each in enumerate(actions)
        if isinstance(each, StackAction) and each.verb is Verb.STOP
    }
    starts = {
        each.stack: index
        for index, each in enumerate(actions)
        if isinstance(each, StackAction) and each.verb is not Verb.STOP
    }
    fast_forward = next(
        (index for index, each in enumerate(actions) if isinstance(each, FastForward)), None
    )
    after: list[frozenset[int]] = []
    needs: list[frozenset[int]] = []
    for each in actions:
        if isinstance(each, FastForward):
            after.append(frozenset(stops.values()))
            needs.append(frozenset())
        elif each.verb is Verb.STOP:
            after.append(frozenset(stops[path] for path in each.after if path in stops))
            needs.append(frozenset())
        else:
            dependencies = frozenset(starts[path] for path in each.after if path in starts)
            # After the fast-forward; without one, still after the stops (a stack's old
            # project goes first).
            first = frozenset(stops.values()) if fast_forward is None else {fast_forward}
            after.append(dependencies | first)
            needs.append(dependencies)
    return Schedule(
        actions=actions,
        after=tuple(after),
        needs=tuple(needs),
        blocked=blocked,
        jobs=max(1, jobs),
    )
