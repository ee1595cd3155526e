"""How many messages of one kind (notifications, commit statuses) were delivered since the
daemon started, and how many not: counted from the threads that deliver them, shown as one
counter family with a ``result`` label."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric


@final
class Deliveries:
    """Sent and failed deliveries, counted under a lock of their own."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name = name
        self._documentation = documentation
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def count(self, *, delivered: bool, times: int = 1) -> None:
        with self._lock:
            if delivered:
                self.sent += times
            else:
                self.failed += times

    def collect(self) -> Iterator[Metric]:
        """``<name>_total`` by result, for the daemon's /metrics."""
        # The daemon's HTTP side: not loaded before a metric is asked for.
        from prometheus_client.core import CounterMetricFamily  # noqa: PLC0415

        family = CounterMetricFamily(self._name, self._documentation, labels=["result"])
        with self._lock:
            counts = {"sent": self.sent, "failed": self.failed}
        for result, count in counts.items():
            family.add_metric([result], count)
        yield family
