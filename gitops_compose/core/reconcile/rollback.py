"""Whether a changed stack that failed goes back to what last ran well, and from what."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_compose.core.reconcile.action import Rollback, StackAction, Verb

if TYPE_CHECKING:
    from gitops_compose.core.compose.stack import Stacks
    from gitops_compose.core.reconcile.stage import Context


def rollback_wanted(context: Context, remote: Stacks, action: StackAction) -> bool:
    """A restart of files other than those last deployed well (never deployed from here,
    or the same files: nothing to go back to), or an image update of a stack whose
    images were recorded (back to them by id, though the tags moved), with rollback on
    (x-gitops may say no)."""
    record = context.state.stacks.get(action.stack)
    desired = remote.valid.get(action.stack)
    wanted = context.settings.rollback
    if desired is not None and desired.rollback is not None:
        wanted = desired.rollback
    if not wanted or action.verb is not Verb.RESTART or record is None:
        return False
    if record.commit is None or record.fingerprint is None:
        return False
    if action.image_services is not None:
        return bool(record.images) and record.fingerprint == action.fingerprint
    return record.fingerprint != action.fingerprint


def rollback_of(
    context: Context, remote: Stacks, action: StackAction, why: str, at: Stacks | None
) -> Rollback | str | None:
    """How a changed stack that failed gets back to what last ran well: the files it
    was last deployed from, taken from the stacks ``at`` a commit when they are those,
    or else the commit to read them from; None when there is nothing to go back to (a
    new stack) or rollback is off."""
    record = context.state.stacks.get(action.stack)
    if not rollback_wanted(context, remote, action) or record is None or record.commit is None:
        return None
    before = at.valid.get(action.stack) if at is not None else None
    if before is None or record.fingerprint != before.fingerprint:
        return record.commit if at is None or at.commit != record.commit else None
    return Rollback(
        failed=action,
        why=why,
        commit=record.commit,
        compose_files=before.compose_files,
        files=tuple(sorted(before.files.items())),
        images=record.images,
    )
