"""The full pass: the one check that starts whatever should run and does not.

A check normally acts on what changed. A full pass also starts every stack that should run
and does not, as a daemon does after a reboot or an upgrade. It is decided here, from the
state and one fact the shell knows of its process: whether it is a daemon that has not yet
saved a check that did all it had to. Runs of ``--once`` follow the state alone: one full
pass, ever, and one more after a check that did not get to its end (killed, or stopped),
whose actions the state may not know of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.state import State

__all__ = ["full_pass_done", "full_pass_due"]


def full_pass_due(state: State, remote: str, daemon_starting: bool) -> bool:
    """Whether a check of the ``remote`` head is a full pass: a daemon's first, the first
    of a state, or the one after a check that did not settle that head."""
    return daemon_starting or not state.full_pass_done or state.settled_commit != remote


def full_pass_done(state: State, daemon_starting: bool, passed: bool) -> bool:
    """What the saved state says of the full pass once a check is over: done when this
    check did all it had to (``passed``), or when it was done before and no starting daemon
    asks for one again."""
    return passed or (state.full_pass_done and not daemon_starting)
