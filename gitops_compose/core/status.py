"""A managed stack's status, what was last deployed of it, and when a failure is retried."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import final


class Status(Enum):
    OK = "ok"
    ERROR = "error"
    REMOVAL_FAILED = "removal_failed"


# A failed stack is tried again after 1, 2, 4 ... minutes, at most every half hour.
FIRST_RETRY_SECONDS = 60.0
LONGEST_RETRY_SECONDS = 1800.0


def retry_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row, for any count: the
    doubling stops long before a float would overflow."""
    doublings = min(max(0, failures - 1), _MOST_DOUBLINGS)
    return min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0**doublings)


# 60 s doubled 5 times is past the half hour already.
_MOST_DOUBLINGS = 16


@final
@dataclass(frozen=True, slots=True)
class StackStatus:
    """A managed stack's status, and what was last deployed of it."""

    project: str | None
    status: Status
    error: str | None = None
    # Fingerprint and commit last deployed or adopted; None when it never ran from here.
    fingerprint: str | None = None
    commit: str | None = None
    # When the error happened (Unix seconds) and how many failures in a row.
    error_at: float | None = None
    failures: int = 0
    # The fingerprint whose deployment failed, and when to try it again.
    attempted: str | None = None
    retry_at: float | None = None

    def held(self, fingerprint: str, now: float) -> bool:
        """Whether a failed deployment of these very files waits for its next try."""
        return self.retry_at is not None and self.attempted == fingerprint and now < self.retry_at
