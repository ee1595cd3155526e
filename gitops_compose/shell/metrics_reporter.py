"""The metrics as a reporter of a check: they show the state it settled with, once saved.

Metrics are a view of the saved state (see metrics): counters never go back, and a daemon
and ``--once`` runs from cron agree because the counters live in the state file. So this
reporter hears ``CheckSettled`` and keeps the state it carries, but shows nothing until
the one who saves the state says it is on disk (``saved``). A state that could not be
saved is never shown: the next check starts from the state saved before, and so do the
metrics.

No metrics code is loaded until there is something to show (through the seam, features):
``--once`` without ``--metrics-file`` needs none.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

from gitops_compose.core.reconcile.event import CheckSettled
from gitops_compose.shell import features, log

if TYPE_CHECKING:
    from pathlib import Path

    from gitops_compose.core.reconcile.event import Event
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.shell.metrics import StateMetrics


@final
class MetricsReporter:
    """Shows the settled state in ``metrics`` (a daemon's /metrics and /status; None for
    ``--once``) and writes it to ``metrics_file`` (None: no file), once it is saved."""

    def __init__(self, metrics: StateMetrics | None, metrics_file: Path | None) -> None:
        self.metrics = metrics
        self.metrics_file = metrics_file
        # The state the check settled with, not yet known to be saved.
        self._settled: State | None = None

    def report(self, event: Event) -> None:
        if isinstance(event, CheckSettled):
            self._settled = event.report.state

    def saved(self, state: State | None = None) -> bool:
        """The state heard last is saved: show it, or ``state`` when the saved one carries
        more than the check settled with (the stacks' history). False when the metrics file
        could not be written (one error line says so; the next check writes it again)."""
        heard, self._settled = self._settled, None
        if heard is None:
            return True
        state = state or heard
        if self.metrics is not None:
            self.metrics.state = state
        if self.metrics_file is None:
            return True
        try:
            (self.metrics or features.state_metrics(state)).write_textfile(self.metrics_file)
        except OSError as error:
            log.event(
                "metrics-file",
                logging.ERROR,
                error=f"cannot write {self.metrics_file}: {error.strerror or error}; "
                "the next check writes it again",
            )
            return False
        return True
