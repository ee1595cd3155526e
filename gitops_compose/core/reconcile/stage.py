"""What every stage of a check shares: the check's context, and the replies it accepts.

Each stage is a small frozen value carrying only what is valid in it (see check for the
stages in order). ``Check`` is their common type: the shell asks ``next(now)`` and answers
with the reply the request calls for; a reply the stage did not ask for is a bug in the
conversation and raises ``NotAsked``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, final

from gitops_compose.core.reconcile.conversation import Report
from gitops_compose.core.reconcile.counting import Counting, counted_by
from gitops_compose.core.value import Value, replace

if TYPE_CHECKING:
    from returns.result import Result

    from gitops_compose.core.compose.resource import Resource
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.conversation import (
        CheckSettings,
        Clone,
        Finished,
        Request,
    )
    from gitops_compose.core.reconcile.event import Event
    from gitops_compose.core.reconcile.image import RunningImages
    from gitops_compose.core.reconcile.image_update import ImageFindings, ImageTag
    from gitops_compose.core.reconcile.runtime import Health, HostState
    from gitops_compose.core.reconcile.state import State


class NotAsked(Exception):
    """The shell answered what the stage did not ask (a bug in the conversation)."""


@final
class Context(Value):
    """What holds for the whole check."""

    # The state the check starts from.
    state: State
    settings: CheckSettings
    # When the check began (Unix seconds): the time retries are measured against.
    began: float
    # The counters as the events told so far make them (see counting): what the check
    # settles with.
    counting: Counting
    # A stop was asked for: running actions finish, no new one starts.
    stopping: bool = False
    # Events decided since the last request, for the shell's reporters (see Report).
    told: tuple[Event, ...] = ()
    # The shell watches the containers of stacks at their gate (then the core looks at them
    # on their events and on deadlines, not once per poll).
    watched: bool = False
    # What this check's image check found (see image_update); None: none was due.
    images: ImageFindings | None = None

    def telling(self, *events: Event) -> Context:
        """The context once ``events`` are told: to be reported, and counted."""
        counting = self.counting
        for event in events:
            counting = counted_by(counting, event)
        return replace(self, told=(*self.told, *events), counting=counting)


class Check(Value):
    """A check at one of its stages."""

    context: Context

    def next(self, now: float) -> tuple[Check, Request]:
        """What the shell is to do next; ``now`` stamps what the core decides.

        Events come first: whatever a stage decided is reported before it asks anything
        more (``Report``); then the stage says what it needs.
        """
        told = self.context.told
        if told:
            from_here = replace(self, context=replace(self.context, told=()))
            return from_here, Report(told)
        return self._next(now)

    def _next(self, now: float) -> tuple[Check, Request]:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self.context.stopping

    def stop(self) -> Check:
        """A stop was asked for (SIGTERM): what runs finishes, nothing new starts."""
        return replace(self, context=replace(self.context, stopping=True))

    # -- the replies, each accepted only by the stage that asks for it ---------------------

    def clone_seen(self, clone: Clone) -> Check:
        raise self._not_asked("clone_seen")

    def commits_read(self, snapshots: Mapping[str, Snapshot]) -> Check:
        raise self._not_asked("commits_read")

    def host_seen(self, found: Result[HostState, str]) -> Check:
        raise self._not_asked("host_seen")

    def resources_seen(self, found: Result[frozenset[Resource], str]) -> Check:
        raise self._not_asked("resources_seen")

    def config_seen(self, found: Mapping[str, Result[Mapping[str, str], str]]) -> Check:
        raise self._not_asked("config_seen")

    def images_seen(self, found: Result[RunningImages, str]) -> Check:
        raise self._not_asked("images_seen")

    def digests_seen(self, found: Result[Mapping[str, tuple[str, ...]], str]) -> Check:
        raise self._not_asked("digests_seen")

    def registry_seen(self, found: Mapping[ImageTag, Result[str, str]], now: float) -> Check:
        raise self._not_asked("registry_seen")

    def finished(self, result: Finished, now: float) -> Check:
        raise self._not_asked("finished")

    def health_seen(
        self, found: Result[Health, str], now: float, *, watched: bool = False
    ) -> Check:
        raise self._not_asked("health_seen")

    def containers_watched(self, live: bool, *, stirred: bool = False) -> Check:
        """Whether the shell watches the containers of stacks at their gate: from the start
        of a check, before any gate opens, or no longer (then the core looks once per poll).
        ``stirred``: an event of theirs came (see Running)."""
        return replace(self, context=replace(self.context, watched=live))

    def replaced_seen(self, found: Result[Health, str], now: float) -> Check:
        raise self._not_asked("replaced_seen")

    def logs_read(self, logs: Mapping[str, str], now: float) -> Check:
        raise self._not_asked("logs_read")

    def last_good_read(self, snapshots: Mapping[str, Snapshot], now: float) -> Check:
        raise self._not_asked("last_good_read")

    def contents_needed(self, snapshot: Snapshot) -> frozenset[str]:
        """While the shell reads the commits asked for (``ReadCommits``, ``ReadLastGood``):
        the paths whose contents this stage needs and ``snapshot`` does not hold yet. The
        shell reads them and asks again until nothing is named (each round adds contents,
        so it ends). The stages that ask for commits know the Compose file model; the
        stages before them, all an idle check goes through, need not load it."""
        raise self._not_asked("contents_needed")

    def _not_asked(self, reply: str) -> NotAsked:
        return NotAsked(f"{reply} while {type(self).__name__}")
