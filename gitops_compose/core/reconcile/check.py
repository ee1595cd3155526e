"""One check as a conversation between the core and the shell, in the manner of h11.

The core says what to look at and which actions may run now; the shell gathers, carries
the actions out (several at once) and reports each result back; the core decides what
follows and, at the end, how the check settles: statuses, counters, and what the next
check starts from. As it goes, the core tells what it did as events (see event), which
the shell hands to its reporters. The shell decides nothing::

    check = begin(state, settings, now())
    while True:
        check, request = check.next(now())
        match request:
            case Report(events): hand each to the reporters
            case LookAtClone(): check = check.clone_seen(...)
            case ReadCommits(commits): check = check.commits_read(...)
            case LookAtHost(): check = check.host_seen(...)
            case LookAtResources(): check = check.resources_seen(...)
            case Planned(plan): nothing (the plan command stops here)
            case Start(actions): start each; later check = check.finished(..., now())
            case AwaitOutcome(until): wait for one, or until then; check.finished(...)
            case LookAtHealth(projects): check = check.health_seen(..., now())
            case LookAtReplaced(projects): check = check.replaced_seen(..., now())
            case ReadLastGood(commits): check = check.last_good_read(..., now())
            case ReadLogs(containers): check = check.logs_read(..., now())
            case Settled(report): return report

A check is at one stage at a time; each stage is a frozen value holding only what is
valid in it, and says what it needs next (``Check.next``; events decided are told first):

    =====================  ====================  ============================================
    stage                  asks                  then, on the reply
    =====================  ====================  ============================================
    LookingAtClone         LookAtClone           nothing to do: LookingAtHost; work or a
                                                 rewritten history: ReadingCommits (or
                                                 Ending); a dirty tree or failed fetch: Ending
    LookingAtHost          LookAtHost            Ending (idle: the statuses say what runs)
    ReadingCommits         ReadCommits           LookingToPlan
    LookingToPlan          LookAtHost            planned: PlanMade, LookingAtResources when a
                                                 stack needs the host's networks or volumes,
                                                 or Ending when the plan refuses
    LookingAtResources     LookAtResources       planned again, with them
    PlanMade               Planned               Running, the plan's events told
    Running                Start, AwaitOutcome,  itself, until nothing runs or waits; then
                           LookAtHealth,         LookingAfter, or Settling when no stack
                           LookAtReplaced,       action ran
                           ReadLastGood, ReadLogs
    LookingAfter           LookAtHost            Settling
    Settling, Ending       (Report)              Done, with the statuses, the report and the
                                                 check's last events
    Done                   Settled               the end
    =====================  ====================  ============================================

Where they live: ``looking`` holds the stages of a check with nothing to do and is all
such a check imports; ``planning``, ``running`` (with ``rollback``) and ``settling`` hold
the rest and are imported when a check has work (``looking.onward``). ``stage`` holds what
every stage shares, ``conversation`` the requests and replies.
"""

from __future__ import annotations

from gitops_compose.core.reconcile.conversation import (
    AwaitOutcome,
    CheckReport,
    CheckSettings,
    Clone,
    Finished,
    Heads,
    LookAtClone,
    LookAtHealth,
    LookAtHost,
    LookAtReplaced,
    LookAtResources,
    Moved,
    Planned,
    ReadCommits,
    ReadLastGood,
    ReadLogs,
    Report,
    Request,
    RolledBack,
    Settled,
    Start,
)
from gitops_compose.core.reconcile.counting import Counting
from gitops_compose.core.reconcile.event import CheckStarted, StackLeftScope
from gitops_compose.core.reconcile.looking import LookingAtClone
from gitops_compose.core.reconcile.stage import Check, Context, NotAsked
from gitops_compose.core.reconcile.state import State, within

__all__ = [
    "AwaitOutcome",
    "Check",
    "CheckReport",
    "CheckSettings",
    "Clone",
    "Finished",
    "Heads",
    "LookAtClone",
    "LookAtHealth",
    "LookAtHost",
    "LookAtReplaced",
    "LookAtResources",
    "Moved",
    "NotAsked",
    "Planned",
    "ReadCommits",
    "ReadLastGood",
    "ReadLogs",
    "Report",
    "Request",
    "RolledBack",
    "Settled",
    "Start",
    "begin",
]


def begin(state: State, settings: CheckSettings, now: float) -> Check:
    """A check from ``state`` at ``now`` (Unix seconds); its first event says it started.

    Stacks the state knows outside this host's subtrees (its --path changed) are not its
    business any more: each is forgotten, said (``StackLeftScope``), and left running.
    A stack in the subtrees at the last deployed commit and gone from them at the new one
    (moved to another host's, or deleted) is another matter: the plan stops it.
    """
    scoped = within(state, settings.scope)
    left = sorted(state.stacks.keys() - scoped.stacks.keys())
    context = Context(
        state=scoped, settings=settings, began=now, counting=Counting(state.counters)
    ).telling(
        CheckStarted(now),
        *(StackLeftScope(path, state.stacks[path].project, now) for path in left),
    )
    return LookingAtClone(context)
