"""What the core and the shell say to each other during a check, in the manner of h11.

The shell tells the core what it found (``Clone``, ``Heads``, and what an action did:
``Moved``, ``RolledBack``, or an ``Outcome``); the core asks the shell to look, to start
actions, to wait, and to report events (``Request``). ``CheckSettings`` is what a check is
asked to do and ``CheckReport`` how it ended. Only values: who says what when is the
stages' business (see check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, final

from returns.result import Result

from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.reconcile.check_failure import CheckFailure
from gitops_compose.core.reconcile.engine import Engine
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.core.reconcile.state import State, troubled
from gitops_compose.core.value import Value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gitops_compose.core.compose.parse_cache import ParseCache
    from gitops_compose.core.reconcile.action import Action, FastForward, Rollback
    from gitops_compose.core.reconcile.configuration import ConfigQuestion
    from gitops_compose.core.reconcile.event import Event
    from gitops_compose.core.reconcile.image_update import ImageTag
    from gitops_compose.core.reconcile.outcome import Outcome, Tally
    from gitops_compose.core.reconcile.plan import Plan


# --- what the shell tells the core ----------------------------------------------------------


@final
class Heads(Value):
    local: str
    remote: str
    # Whether the local HEAD is the remote head or one of its ancestors.
    remote_descends: bool


@final
class Clone(Value):
    """The host's clone as the shell found it, the fetch included."""

    # Tracked changes and untracked files git does not ignore.
    dirty: tuple[str, ...]
    # The heads after the fetch; or HEAD not on the followed branch, or the fetch failed.
    fetched: Result[Heads, CheckFailure]


@final
class Moved(Value):
    """What the fast-forward did: None, or why it failed."""

    action: FastForward
    error: str | None = None


@final
class RolledBack(Value):
    """What a rollback did: None, or why it failed too."""

    action: Rollback
    error: str | None = None


Finished: TypeAlias = "Outcome | Moved | RolledBack"


# --- what the core asks of the shell --------------------------------------------------------


@final
class LookAtClone(Value):
    """Check the branch and the working tree, and fetch."""


@final
class ReadCommits(Value):
    """The snapshots of these commits (see snapshot.contents_needed)."""

    commits: tuple[str, ...]


@final
class LookAtHost(Value):
    """Every Compose project's containers: once before planning, on every check, and once
    more after actions ran, so the statuses say what the host runs at the end."""


@final
class LookAtConfig(Value):
    """The configuration hashes of these stacks' services, as Compose computes them from
    the clone's files; report them with ``config_seen``."""

    stacks: tuple[ConfigQuestion, ...]


@final
class LookAtImages(Value):
    """The image each service of these Compose projects runs: its id and the repository
    digests Docker recorded for it (see image_update.RunningImage); report them with
    ``images_seen``. Asked on an image check, and after deployments, never when idle."""

    projects: tuple[str, ...]


@final
class LookAtDigests(Value):
    """The repository digests Docker recorded for these images (ids): after deployments
    whose health gate already saw which image each service runs. Report them with
    ``digests_seen``."""

    images: tuple[str, ...]


@final
class AskRegistry(Value):
    """The digest each of these tags points at in its registry, by a HEAD request on its
    manifest (one per tag); report them with ``registry_seen``, a reason for each that
    could not be had."""

    tags: tuple[ImageTag, ...]


@final
class LookAtResources(Value):
    """The host's networks and volumes, by name."""


@final
class Planned(Value):
    """The plan is made; what follows carries it out. Problems are to be reported now."""

    plan: Plan


@final
class Start(Value):
    """Start each of these now; report each result with ``finished``."""

    actions: tuple[Action | Rollback, ...]
    # Whether some of them are Compose commands (not only the fast-forward): before the
    # first of a check, the shell makes sure there is a Compose v2 to run them with.
    compose: bool = True


@final
class AwaitOutcome(Value):
    """Nothing more may start: report the next action that finishes. With ``until`` (Unix
    seconds), stacks wait at their health gate: ask again then, finished or not (when
    ``running`` is false nothing runs: just wait). With ``watching``, the containers of
    these projects are watched: an event of theirs is reported at once, as
    ``containers_watched``."""

    until: float | None = None
    running: bool = True
    watching: tuple[str, ...] = ()


@final
class LookAtHealth(Value):
    """The containers of these Compose projects, inspected: the stacks at their gate."""

    projects: tuple[str, ...]


@final
class LookAtReplaced(Value):
    """The containers of these projects, inspected: whether the failed ``up`` of a change
    replaced some before it failed (then it is rolled back; else nothing changed)."""

    projects: tuple[str, ...]


@final
class ReadLastGood(Value):
    """The snapshots of these commits: what failed stacks last ran well from, to roll back
    to (see last_good_read; a commit the clone no longer has is left out)."""

    commits: tuple[str, ...]


@final
class ReadLogs(Value):
    """The last lines each of these containers wrote: why their stacks failed the gate."""

    containers: tuple[str, ...]


@final
class Report(Value):
    """Events to hand to the reporters now, in order (see event): what the check did since
    the last request, outcomes of stacks included."""

    events: tuple[Event, ...]


@final
class Settled(Value):
    report: CheckReport


Request = (
    LookAtClone
    | ReadCommits
    | LookAtHost
    | LookAtResources
    | LookAtConfig
    | LookAtImages
    | LookAtDigests
    | AskRegistry
    | Planned
    | Start
    | LookAtHealth
    | LookAtReplaced
    | ReadLastGood
    | ReadLogs
    | AwaitOutcome
    | Report
    | Settled
)


# --- the check ------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class CheckSettings:
    branch: str
    # What Compose would call a stack at the repository root: the clone directory's name.
    root_name: str
    self_heal: bool = False
    # Compose commands at once.
    jobs: int = 4
    # Plan even when nothing moved, and read the host (the plan command).
    always: bool = False
    # The health gate of every start and restart (a stack's x-gitops may say otherwise);
    # a health timeout of 0 turns it off.
    health_timeout: float = 0.0
    settle: float = 0.0
    # Bring a changed stack that fails back to what last ran well (x-gitops may say no).
    rollback: bool = False
    # A daemon that has not yet saved a check that did all it had to: its first check, after
    # a reboot or an upgrade (see full_pass).
    daemon_starting: bool = False
    # The clone's absolute directory: where Compose runs stacks from (their working_dir
    # label); empty when not known, then the directory is not compared.
    clone: str = ""
    # The environment Compose runs with, as the shell found it: the values of the variables
    # a stack's files read are part of what decides its configuration (see configuration).
    # The shell gives each value as a keyed digest (shell/environment_key), never the value
    # itself; only equality matters here. Never shown all the same.
    environment: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # Following image updates of mutable tags (see image_update).
    images: ImageSettings = field(default_factory=ImageSettings)
    # The subtrees whose stacks this host manages (--path); the others are not its
    # business, whatever runs of them here (see scope).
    scope: Scope = EVERYWHERE
    # What runs the stacks: Compose on this engine, or Docker Swarm (see engine).
    engine: Engine = Engine.COMPOSE
    # The shell's parse cache, with its YAML parser: what reads the commits' stacks.
    parsing: ParseCache = field(kw_only=True, compare=False, repr=False)


@final
class CheckReport(Value):
    failure: CheckFailure | None
    # What the next check starts from.
    state: State
    heads: Heads | None = None
    plan: Plan | None = None
    outcomes: tuple[Outcome, ...] = ()
    # None when the check touched nothing and settled no status.
    tally: Tally | None = None
    # Actions a stop request left for the next check.
    left: tuple[Action, ...] = ()
    # The commit the clone is at once the check is over.
    head: str | None = None

    @property
    def ok(self) -> bool:
        """The check and every stack operation succeeded, no stack is broken, and every
        managed stack is ok and running at its end (none left in error from earlier)."""
        return (
            self.failure is None
            and (self.tally is None or self.tally.all_ok)
            and not troubled(self.state)
        )
