"""A managed stack's status, and what was last deployed of it.

How a status changes is in transition; when a failed stack is tried again, in retry.
"""

from __future__ import annotations

from enum import Enum
from typing import final

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.value import Value


class Status(Enum):
    """What became of a stack's last deployment: what retries and plans go by."""

    OK = "ok"
    ERROR = "error"
    REMOVAL_FAILED = "removal_failed"


class Condition(Enum):
    """What ``status``, ``/status`` and the metrics show of a stack: its status, with a
    stack whose deployment went well but whose services are not all running told apart."""

    OK = "ok"
    NOT_RUNNING = "not_running"
    DRIFTED = "drifted"
    ERROR = "error"
    REMOVAL_FAILED = "removal_failed"


@final
class StackStatus(Value):
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
    # What it should run, and why it did not fully run when the last check looked at the
    # host (None: all of it ran, or nothing was seen yet).
    expects: Expectation | None = None
    down: str | None = None
    # The image (id) each service ran when its deployment last passed its health gate:
    # what a rollback brings back, whatever a tag points at since.
    images: tuple[tuple[str, str], ...] = ()
    # The repository digest (``repo@sha256:…``) of the image each service ran after its
    # last successful deployment, where Docker recorded one.
    digests: tuple[tuple[str, str], ...] = ()
    # The fingerprint whose deployment was rolled back: never tried again unasked (its
    # files' next change is, and ``retry``); and how many rollbacks there were.
    rolled_back_from: str | None = None
    rollbacks: int = 0
    # The services that ran another configuration than its files give when the last check
    # looked at the host (see configuration).
    drift: tuple[str, ...] = ()

    @property
    def condition(self) -> Condition:
        if self.status is Status.OK:
            if self.down is not None:
                return Condition.NOT_RUNNING
            return Condition.DRIFTED if self.drift else Condition.OK
        return Condition.ERROR if self.status is Status.ERROR else Condition.REMOVAL_FAILED
