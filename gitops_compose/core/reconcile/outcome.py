"""What an action did: its outcome, as the shell reports it back to the check, and one
check's tally of outcomes for the metrics. Values only, so that the shell, which makes
outcomes, loads nothing of how a check judges them (see verdict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from gitops_compose.core.reconcile.action import StackAction
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.value import Value

__all__ = ["Outcome", "StackStatus", "Status", "Tally"]


@final
class Outcome(Value):
    action: StackAction
    # Compose's own message when the action failed; None when it succeeded.
    error: str | None = None
    # The stack whose failure in this check kept this action from starting: it was never
    # tried, and is retried together with that stack.
    blocked_by: str | None = None
    # The images (ids) by service once it passed its health gate.
    images: tuple[tuple[str, str], ...] = ()
    # The commit it was rolled back to after it failed (the error says why).
    rolled_back_to: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@final
class Tally(Value):
    """One check's contribution to the metrics."""

    deployments_ok: int
    deployments_failed: int
    active: Mapping[Status, int]
    problems: int
    # The operations that succeeded, by what they did (the original's families count them).
    started: int = 0
    stopped: int = 0
    updated: int = 0

    @property
    def all_ok(self) -> bool:
        """Every stack operation succeeded and no stack was found broken."""
        return self.deployments_failed == 0 and self.problems == 0
