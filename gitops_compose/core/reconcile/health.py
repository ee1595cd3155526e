"""Whether a daemon's checks still happen and still succeed: what ``/health`` answers.

A daemon is healthy while its first check runs, and then while its last check ended, and
its last successful check ended, less than three intervals ago. Without polling (webhook
only) checks happen when hooks come, so only the last one's success counts.
"""

from __future__ import annotations

from enum import Enum
from typing import final

from gitops_compose.core.reconcile.report import iso_time
from gitops_compose.core.reconcile.state import Counters
from gitops_compose.core.value import Value

# How many intervals a daemon may go without a check ending, or without one succeeding.
INTERVALS_OF_GRACE = 3


class Health(Enum):
    OK = "ok"
    # No check has ended for too long: one hangs, or the loop is gone.
    STALLED = "stalled"
    # Checks end, but none succeeded for too long (fetch failing, state not saved).
    FAILING = "failing"


@final
class Liveness(Value):
    """What the daemon process knows of its own checks (the state knows the rest)."""

    started: float
    # When this process's last check ended, saved or not; None while the first runs.
    last_ended: float | None = None
    # Why that check ended early, if it did.
    last_failure: str | None = None


@final
class HealthReport(Value):
    health: Health
    reason: str

    @property
    def ok(self) -> bool:
        return self.health is Health.OK


def health(
    liveness: Liveness, counters: Counters, interval: float | None, now: float
) -> HealthReport:
    """``interval`` None: no polling, checks only on hooks and ``sync``."""
    if liveness.last_ended is None:
        return HealthReport(Health.OK, "the first check is running")
    last_success = counters.last_success
    if interval is None:
        if last_success < liveness.started or counters.last_error > last_success:
            return HealthReport(Health.FAILING, _failed_since(liveness, last_success, now))
        return HealthReport(Health.OK, "the last check succeeded")
    grace = INTERVALS_OF_GRACE * interval
    if now - liveness.last_ended > grace:
        return HealthReport(
            Health.STALLED,
            f"no check ended for {now - liveness.last_ended:.0f} s "
            f"(more than {INTERVALS_OF_GRACE} intervals of {interval:g} s)",
        )
    # A daemon just started has its grace too, whatever the state says of earlier checks.
    if now - max(last_success, liveness.started) > grace:
        return HealthReport(Health.FAILING, _failed_since(liveness, last_success, now))
    return HealthReport(Health.OK, "checks succeed")


def _failed_since(liveness: Liveness, last_success: float, now: float) -> str:
    when = f"for {now - last_success:.0f} s" if last_success > 0 else "since the daemon started"
    why = f": {liveness.last_failure}" if liveness.last_failure else ""
    return f"no check succeeded {when}{why}"


def health_document(
    report: HealthReport, liveness: Liveness, counters: Counters, interval: float | None
) -> dict[str, object]:
    """The JSON ``/health`` sends, 200 or 503 alike."""
    return {
        "status": report.health.value,
        "reason": report.reason,
        "interval": interval,
        "last_check": iso_time(liveness.last_ended),
        "last_success": iso_time(counters.last_success or None),
    }
