"""What a check did, as it goes: events the core emits and the shell hands to its reporters.

The core decides; these values say what it decided and when, in the order it happened. The
log lines, the notifications and a status page are reporters of this one stream (see
shell/reporter.py), so they all say the same thing in the same words: a reason is rendered
by the action's cause (``action.reason``) or carried as the text the check decided on,
never parsed back. Every event carries ``at``, the Unix seconds the core was told it was
when it decided.

A check's stream: ``CheckStarted``, then ``StackLeftScope`` for each stack of the state
outside this host's subtrees; when it reads the commits, ``SubtreeMissing`` for each
subtree the remote head lacks; when it plans, each problem (``StackInvalid``), each
link out of the repository (``LinkOutside``) and each stack action (``StackPlanned``);
then as actions run ``StackStarted``, ``FastForwarded``, ``GateOpened``, ``GatePassed``
or ``GateFailed``, and one of ``StackSucceeded``, ``StackRemoved``, ``StackFailed`` or
``StackRolledBack`` for each stack action; at the end ``StatusChanged`` for each stack
whose status moved, ``StackRecovered`` for each back to ok from an error, and last
``CheckSettled`` with the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, final

from gitops_compose.core.value import Value

if TYPE_CHECKING:
    from gitops_compose.core.compose.link import OutsideLink
    from gitops_compose.core.reconcile.action import StackAction
    from gitops_compose.core.reconcile.conversation import CheckReport
    from gitops_compose.core.reconcile.status import Condition, Status


# --- the check ------------------------------------------------------------------------------


@final
class CheckStarted(Value):
    at: float


@final
class CheckSettled(Value):
    """The check is over: ``report`` holds its outcome, what it did and the state the next
    check starts from; ``began`` is when it started."""

    report: CheckReport
    began: float
    at: float

    @property
    def ok(self) -> bool:
        return self.report.ok


@final
class FastForwarded(Value):
    """The clone moved from ``source`` to ``target``."""

    source: str
    target: str
    at: float


@final
class SubtreeMissing(Value):
    """A subtree of this host's scope (--path) is no directory of the remote head: no stack
    of it is managed until one is pushed there."""

    subtree: str
    commit: str
    at: float


# --- a stack --------------------------------------------------------------------------------


@final
class StackLeftScope(Value):
    """The state knew a stack that is outside this host's subtrees (--path was changed):
    it is forgotten, and whatever runs of it is left as it is."""

    stack: str
    project: str | None
    at: float


@final
class StackPlanned(Value):
    """The check is to act on a stack: ``action`` says how (verb), on what (stack path,
    project, commit) and why (its cause; ``action.reason`` is the text)."""

    action: StackAction
    at: float


@final
class StackInvalid(Value):
    """A stack whose files cannot be deployed; nothing is done to it."""

    stack: str
    project: str | None
    reason: str
    at: float


@final
class LinkOutside(Value):
    """A stack to deploy uses a symbolic link out of the repository: allowed, and said."""

    stack: str
    project: str
    link: OutsideLink
    at: float


@final
class StackStarted(Value):
    """The shell is told to carry the action out now."""

    action: StackAction
    at: float


@final
class StackSucceeded(Value):
    """A start or restart passed its health gate (or had none), or a project renamed away
    stopped; ``images`` are the image ids by service it was seen running."""

    action: StackAction
    images: tuple[tuple[str, str], ...]
    at: float


@final
class StackRemoved(Value):
    """A stack no longer in the repository was stopped: it leaves the managed stacks."""

    action: StackAction
    at: float


@final
class StackFailed(Value):
    """The action failed, or could not start (``blocked_by``: the stack whose failure in
    this check kept it from starting); ``error`` is the reason as the log gives it."""

    action: StackAction
    error: str
    blocked_by: str | None
    at: float


@final
class StackRolledBack(Value):
    """A changed stack failed and runs again what it ran well from ``commit``; ``error``
    says so and why it failed (``rolled back to <commit>: <why>``)."""

    action: StackAction
    error: str
    commit: str
    at: float


@final
class StackRecovered(Value):
    """A stack in error (``was``) before the check is ok after it."""

    stack: str
    project: str | None
    was: Status
    at: float


@final
class StatusChanged(Value):
    """A stack's condition moved: ``was`` None for a stack new to the state, ``became``
    None for one that left it; ``why`` says why a stack is not running."""

    stack: str
    project: str | None
    was: Condition | None
    became: Condition | None
    why: str | None
    at: float


# --- the health gate ------------------------------------------------------------------------


@final
class GateOpened(Value):
    """A start or restart's command went well; its stack must now run, healthy, within
    ``health_timeout`` seconds and stay so for ``settle`` seconds."""

    action: StackAction
    health_timeout: float
    settle: float
    at: float


@final
class GatePassed(Value):
    action: StackAction
    images: tuple[tuple[str, str], ...]
    at: float


@final
class GateFailed(Value):
    """Why the stack failed its gate; ``container`` is the one whose log tells more."""

    action: StackAction
    reason: str
    container: str | None
    at: float


# --- images ---------------------------------------------------------------------------------


@final
class ImagesChecked(Value):
    """An image check asked the registries about ``tags`` distinct tags: ``pending``
    services run another digest than their tag's, of which ``cooling`` wait out the
    cool-down; ``warnings`` tags could not be checked."""

    tags: int
    pending: int
    cooling: int
    warnings: int
    at: float


@final
class ImageUnchecked(Value):
    """A tag a stack uses could not be checked (the registry could not be asked, or no
    longer has it): a warning; nothing is restarted for it."""

    stack: str
    project: str
    image: str
    reason: str
    at: float


# A stack action's end: exactly one of these for each.
StackDecided: TypeAlias = StackSucceeded | StackRemoved | StackFailed | StackRolledBack

Event: TypeAlias = (
    CheckStarted
    | CheckSettled
    | FastForwarded
    | SubtreeMissing
    | StackLeftScope
    | StackPlanned
    | StackInvalid
    | LinkOutside
    | StackStarted
    | StackSucceeded
    | StackRemoved
    | StackFailed
    | StackRolledBack
    | StackRecovered
    | StatusChanged
    | GateOpened
    | GatePassed
    | GateFailed
    | ImagesChecked
    | ImageUnchecked
)
