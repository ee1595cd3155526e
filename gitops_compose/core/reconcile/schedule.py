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
from typing import final

from gitops_compose.core.reconcile.action import Action, FastForward, StackAction, Verb
from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.value import Value, field, replace


@final
class Schedule(Value):
    actions: tuple[Action, ...]
    # Per action (by index): the actions it comes after, those of them whose success it
    # needs, and the actions that come after it.
    after: tuple[frozenset[int], ...]
    needs: tuple[frozenset[int], ...]
    followers: tuple[tuple[int, ...], ...]
    # Stack path -> why its actions cannot start at all (Plan.blocked).
    blocked: Mapping[str, str]
    jobs: int
    # Action -> its index: outcomes come back by action.
    index_of: Mapping[Action, int]
    # Per action: how many of those it comes after are not done yet.
    remaining: tuple[int, ...]
    # Not started, with nothing left to wait for, in the plan's order. Kept as each
    # action settles, so a step costs what it touches, not the length of the plan.
    ready: tuple[int, ...]
    # Ready actions not yet looked at by given_up: once looked at, an action's
    # dependencies are done and cannot change, so each is looked at once.
    unvetted: tuple[int, ...]
    running: frozenset[int] = frozenset()
    # Done with their command, waiting at their health gate: they hold no job, and what
    # comes after them waits until the gate decides.
    gating: frozenset[int] = frozenset()
    # Index -> whether it succeeded, for every action done or given up.
    done: Mapping[int, bool] = field(default_factory=dict)
    # Stack path -> the stack whose own failure it traces back to.
    failed_root: Mapping[str, str] = field(default_factory=dict)
    # Without the new files nothing after the fast-forward can run.
    fast_forward_failed: bool = False

    @property
    def busy(self) -> bool:
        return bool(self.running)

    def left(self) -> tuple[Action, ...]:
        """Actions never started (after a stop was asked for, or a failed fast-forward)."""
        return tuple(
            each
            for index, each in enumerate(self.actions)
            if index not in self.done and index not in self.running and index not in self.gating
        )

    def given_up(self) -> tuple[Schedule, tuple[Outcome, ...]]:
        """Ready actions that cannot start, as failed outcomes: blocked, or after a failed
        dependency. Repeats until none is left, so a chain fails at once."""
        if self.fast_forward_failed or not self.unvetted:
            return self, ()
        schedule, outcomes = self, list[Outcome]()
        while True:
            found = None
            for index in schedule.unvetted:
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
                return replace(schedule, unvetted=()), tuple(outcomes)
            index, outcome, root = found
            outcomes.append(outcome)
            schedule = replace(
                schedule._done(index, ok=False),
                failed_root={**schedule.failed_root, outcome.action.stack: root},
            )

    def startable(self) -> tuple[Schedule, tuple[Action, ...]]:
        """The ready actions that may start now, within ``jobs``, marked as running."""
        room = self.jobs - len(self.running)
        chosen = self._ready()[: max(0, room)]
        if not chosen:
            return self, ()
        return (
            replace(
                self,
                running=self.running | frozenset(chosen),
                ready=self.ready[len(chosen) :],  # the first ones of ready were chosen
                unvetted=tuple(each for each in self.unvetted if each not in chosen),
            ),
            tuple(self.actions[index] for index in chosen),
        )

    def awaits(self, action: Action) -> bool:
        """Whether other actions come after this one (and so wait for its verdict)."""
        return bool(self.followers[self.index_of[action]])

    def released(self, action: Action) -> Schedule:
        """Its command is over, its health gate not decided: its job is free for another."""
        index = self.index_of[action]
        return replace(self, running=self.running - {index}, gating=self.gating | {index})

    def settled(self, action: Action, ok: bool) -> Schedule:
        index = self.index_of[action]
        roots = dict(self.failed_root)
        if not ok and isinstance(action, StackAction):
            roots[action.stack] = action.stack
        schedule = self._done(index, ok)
        return replace(
            schedule,
            running=self.running - {index},
            gating=self.gating - {index},
            failed_root=roots,
            fast_forward_failed=self.fast_forward_failed
            or (isinstance(action, FastForward) and not ok),
        )

    def _done(self, index: int, ok: bool) -> Schedule:
        """``index`` done (or given up while ready); its followers with nothing left to
        wait for become ready."""
        ready = self.ready
        unvetted = self.unvetted
        if index in unvetted:  # given up, never started
            at = ready.index(index)
            ready = ready[:at] + ready[at + 1 :]
            at = unvetted.index(index)
            unvetted = unvetted[:at] + unvetted[at + 1 :]
        followers = self.followers[index]
        if not followers:
            return replace(self, done={**self.done, index: ok}, ready=ready, unvetted=unvetted)
        remaining = list(self.remaining)
        freed = []
        for follower in followers:
            remaining[follower] -= 1
            if not remaining[follower]:
                freed.append(follower)
        return replace(
            self,
            done={**self.done, index: ok},
            remaining=tuple(remaining),
            ready=tuple(sorted((*ready, *freed))) if freed else ready,
            unvetted=tuple(sorted((*unvetted, *freed))) if freed else unvetted,
        )

    def _ready(self) -> tuple[int, ...]:
        """Not started, and everything it comes after is done; in the plan's order."""
        return () if self.fast_forward_failed else self.ready


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
    followers: list[list[int]] = [[] for _ in actions]
    for index, earlier in enumerate(after):
        for before in earlier:
            followers[before].append(index)
    return Schedule(
        actions=actions,
        after=tuple(after),
        needs=tuple(needs),
        followers=tuple(tuple(each) for each in followers),
        blocked=blocked,
        jobs=max(1, jobs),
        index_of={each: index for index, each in enumerate(actions)},
        remaining=tuple(len(each) for each in after),
        ready=(ready := tuple(index for index, each in enumerate(after) if not each)),
        unvetted=ready,
    )
