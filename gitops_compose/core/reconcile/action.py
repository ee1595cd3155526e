"""What a check may do to a stack, and why: each action carries its cause as a type.

The cause is the action's meaning (new, changed, renamed, removed, retry, not running); the
reason people read in the log, ``plan`` and ``status`` is rendered from it and never parsed
back. The fast-forward of the clone is an action too: the barrier between the stops and the
rest.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import TYPE_CHECKING, final

from gitops_compose.core.reconcile.retry import Retried
from gitops_compose.core.reconcile.verb import Verb as Verb  # noqa: PLC0414 (re-exported)
from gitops_compose.core.value import Value

if TYPE_CHECKING:
    from gitops_compose.core.compose.secret_file import SecretFile


class Phase(IntEnum):
    """Where an action stands in a check; order between stacks refines it (see schedule)."""

    REMOVE = 1
    FAST_FORWARD = 2
    ADD = 3
    UPDATE = 4
    HEAL = 5


class Kind(Enum):
    NEW = "new"
    CHANGED = "changed"
    RENAMED = "renamed"
    REMOVED = "removed"
    RETRY = "retry"
    NOT_RUNNING = "not running"
    DRIFT = "drift"
    IMAGE = "image updated"


@final
class New(Value):
    kind = Kind.NEW

    @property
    def reason(self) -> str:
        return "new"


@final
class Changed(Value):
    """Files that differ from what was last deployed (empty: not known which)."""

    files: tuple[str, ...] = ()
    # Whether the comparison was with the saved state rather than the local HEAD.
    since_deployment: bool = False
    # The changed files mounted into services, and those services: recreated for them.
    mounted: tuple[tuple[str, tuple[str, ...]], ...] = ()
    kind = Kind.CHANGED

    @property
    def recreated(self) -> tuple[str, ...]:
        """The services to recreate by name: Compose's own hash does not see those files."""
        return tuple(sorted({service for _, services in self.mounted for service in services}))

    @property
    def reason(self) -> str:
        if not self.files:
            return "changed since the last deployment" if self.since_deployment else "changed"
        into = dict(self.mounted)
        named = [
            f"{each} → {' and '.join(into[each])}" if each in into else each for each in self.files
        ]
        shown = ", ".join(named[:3])
        more = f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""
        return f"changed: {shown}{more}"


@final
class Renamed(Value):
    """The stack's project name changed: the old project stops, the new one starts."""

    old: str
    new: str
    # True on the stop of the old project, False on the start of the new one.
    stopping_old: bool
    kind = Kind.RENAMED

    @property
    def reason(self) -> str:
        return f"project renamed to {self.new}" if self.stopping_old else f"renamed from {self.old}"


@final
class Removed(Value):
    branch: str
    kind = Kind.REMOVED

    @property
    def reason(self) -> str:
        return f"removed from {self.branch}"


@final
class Retry(Value):
    of: Retried
    attempt: int
    kind = Kind.RETRY

    @property
    def reason(self) -> str:
        return f"retry {self.of.value} (attempt {self.attempt})"


@final
class NotRunning(Value):
    """What was seen on the host: ``db exited 1``, ``no containers``."""

    seen: str
    kind = Kind.NOT_RUNNING

    @property
    def reason(self) -> str:
        return f"not running: {self.seen}"


@final
class Drift(Value):
    """Services that run another configuration than the repository's (see configuration):
    ``web runs other configuration than a1b2c3d``."""

    services: tuple[str, ...]
    # The configuration hash the first of them should run ("": not known).
    expected: str
    kind = Kind.DRIFT

    @property
    def reason(self) -> str:
        return f"drift: {drifted_text(self.services, self.expected)}"


def drifted_text(services: tuple[str, ...], expected: str) -> str:
    """``web runs other configuration than a1b2c3d``; ``web, db run other configuration``."""
    if len(services) == 1:
        than = expected[:7] or "the repository's"
        return f"{services[0]} runs other configuration than {than}"
    return f"{', '.join(services)} run other configuration than the repository's"


@final
class ImageChange(Value):
    """A service whose image's tag points at another digest in its registry than the one
    it runs: ``web 127.0.0.1:5000/app:latest sha256:1a2b… → sha256:3c4d…``."""

    service: str
    # The image as the Compose file names it.
    image: str
    # The repository digest it runs (None: Docker recorded none), and the registry's.
    running: str | None
    available: str

    @property
    def text(self) -> str:
        moved = f"{short_digest(self.running)} → {short_digest(self.available)}"
        return f"{self.service} {self.image} {moved}"


def short_digest(digest: str | None) -> str:
    """``sha256:1a2b3c4d5e6f…``; ``none`` for no digest."""
    if digest is None:
        return "none"
    algorithm, _, hexits = digest.partition(":")
    return f"{algorithm}:{hexits[:12]}…" if len(hexits) > 12 else digest


@final
class ImageUpdated(Value):
    """Tags of images the stack runs point at new digests: those services alone are
    pulled and recreated (see image_update)."""

    changes: tuple[ImageChange, ...]
    kind = Kind.IMAGE

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({each.service for each in self.changes}))

    @property
    def reason(self) -> str:
        return "image updated: " + ", ".join(each.text for each in self.changes)


Cause = New | Changed | Renamed | Removed | Retry | NotRunning | Drift | ImageUpdated


@final
class StackAction(Value):
    verb: Verb
    phase: Phase
    stack: str
    project: str
    # Empty for a stop by project name alone, when no valid files are left to name.
    compose_files: tuple[str, ...]
    # The commit whose files the action uses: local for stops, remote for the rest.
    commit: str
    fingerprint: str
    cause: Cause
    # Whether Compose must build images for it: starts of new or changed stacks do.
    build: bool = False
    # Stacks whose actions of this check must be done first (see schedule).
    after: tuple[str, ...] = ()
    # The files Compose reads for it that SOPS encrypted: decrypted for a start or restart.
    secret_files: tuple[SecretFile, ...] = ()
    # Services of its project that run from another directory than the stack's (see
    # configuration): Compose sees no change in their hash, so a start recreates them.
    moved: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return self.cause.reason

    @property
    def kind(self) -> Kind:
        return self.cause.kind

    @property
    def recreating(self) -> tuple[str, ...] | None:
        """For a restart of changed files: Compose recreates what its configuration hash
        sees changed, then these services by name (their mounted files changed, which
        it does not see); a start, the services that run from another directory. None:
        every service is recreated (a retry or a heal, whose
        changes are not known), or the action recreates nothing by force."""
        if self.verb is Verb.START and self.moved:
            return self.moved
        if self.verb is not Verb.RESTART or not isinstance(self.cause, Changed):
            return None
        return self.cause.recreated

    @property
    def image_services(self) -> tuple[str, ...] | None:
        """For an image update: the services whose images alone are pulled, then recreated
        (no other service of the stack is touched). None for any other action."""
        if self.verb is not Verb.RESTART or not isinstance(self.cause, ImageUpdated):
            return None
        return self.cause.services


@final
class FastForward(Value):
    source: str
    target: str
    phase: Phase = Phase.FAST_FORWARD


Action = StackAction | FastForward


@final
class Rollback(Value):
    """Bring a stack whose deployment failed back to what last ran well: its files as of
    ``commit`` (repository path and blob id of each, read from git), and its services'
    images as recorded then (service, image id), whatever their tags point at now."""

    failed: StackAction
    why: str
    commit: str
    compose_files: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    images: tuple[tuple[str, str], ...] = ()
    # Those of ``files`` that SOPS encrypted, decrypted as for a start.
    secret_files: tuple[SecretFile, ...] = ()

    @property
    def stack(self) -> str:
        return self.failed.stack

    @property
    def project(self) -> str:
        return self.failed.project
