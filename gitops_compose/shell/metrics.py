"""Prometheus metrics on a registry of our own, served over HTTP beside ``/status``.

The series named in the README keep their names, types and meanings: dashboards and alerts
written for the original GitopsCompose depend on them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    disable_created_metrics,
    generate_latest,
)

from gitops_compose import __version__
from gitops_compose.core.outcome import Status, Tally

# Counters would otherwise bring a *_created series each, which the series list excludes.
disable_created_metrics()  # type: ignore[no-untyped-call]


@final
class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.check_error = Counter("gitops_check_error", "Checks that failed.", registry=r)
        self.check_success = Counter("gitops_check_success", "Checks that succeeded.", registry=r)
        self.last_error = Gauge(
            "gitops_check_last_error_timestamp_seconds",
            "Unix time of the last failed check.",
            registry=r,
        )
        self.last_success = Gauge(
            "gitops_check_last_success_timestamp_seconds",
            "Unix time of the last successful check.",
            registry=r,
        )
        self.last_check = Gauge(
            "gitops_check_last_timestamp_seconds", "Unix time of the last check.", registry=r
        )
        self.active = Gauge(
            "gitops_deployment_active_total",
            "Managed stacks now in each status.",
            ["status"],
            registry=r,
        )
        self.deployment_error = Counter(
            "gitops_deployment_error", "Stack operations that failed.", registry=r
        )
        self.deployment_success = Counter(
            "gitops_deployment_success", "Stack operations that succeeded.", registry=r
        )
        Info("gitops_build", "The running gitops-compose.", registry=r).info(
            {"version": __version__}
        )
        for status in Status:
            self.active.labels(status=status.value).set(0)

    def record_check(self, ok: bool, at: float, tally: Tally | None) -> None:
        """One finished check; ``tally`` is None when it ended before any stack was touched."""
        self.last_check.set(at)
        if ok:
            self.check_success.inc()
            self.last_success.set(at)
        else:
            self.check_error.inc()
            self.last_error.set(at)
        if tally is None:
            return
        self.deployment_success.inc(tally.deployments_ok)
        self.deployment_error.inc(tally.deployments_failed)
        for status, count in tally.active.items():
            self.active.labels(status=status.value).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def serve(
    host: str, port: int, metrics: Metrics, status: Callable[[], object]
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/status`` (JSON) from a daemon thread; raises OSError."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path == "/status":
                body = json.dumps(status(), indent=2).encode() + b"\n"
                self._reply(200, "application/json", body)
            else:
                self._reply(404, "text/plain", b"see /metrics and /status\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the check log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
