"""``POST /webhook``: a signed hook from a forge rings for a check; the rest is counted.

Counts are about this process (hooks that reached it), so they live in memory, unlike the
metrics drawn from the saved state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import final

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from gitops_compose.core.reconcile.webhook import HookResult, Verdict, judge
from gitops_compose.shell import log
from gitops_compose.shell.due import Due

# The HTTP answer to each verdict.
STATUS_CODES = {
    HookResult.ACCEPTED: 202,
    HookResult.IGNORED: 200,
    HookResult.UNAUTHORIZED: 401,
    HookResult.BAD_REQUEST: 400,
}


@final
class Webhook(Collector):
    def __init__(self, secret: bytes, branch: str, due: Due) -> None:
        self._secret = secret
        self._branch = branch
        self._due = due
        self._counts = dict.fromkeys(HookResult, 0)
        self._counting = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        """Judge a hook of headers (names in lower case) and body, ring if it asks for a
        check. Rejections write no log line: anyone who reaches the port can send them."""
        verdict = judge(headers, body, self._secret, self._branch)
        self.count(verdict.result)
        if verdict.result is HookResult.ACCEPTED:
            self._due.ring("webhook")
        if verdict.result in (HookResult.ACCEPTED, HookResult.IGNORED):
            log.event("webhook", logging.DEBUG, result=verdict.result.value, reason=verdict.reason)
        return verdict

    def count(self, result: HookResult) -> None:
        with self._counting:
            self._counts[result] += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gitops_webhook_requests",
            "Requests to /webhook since the daemon started, by what became of them.",
            labels=["result"],
        )
        with self._counting:
            counts = dict(self._counts)
        for result, count in counts.items():
            requests.add_metric([result.value], count)
        yield requests
