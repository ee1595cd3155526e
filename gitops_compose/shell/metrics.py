"""Prometheus metrics, drawn from the saved state at every scrape, and the HTTP endpoint.

Metrics are a view of the state rather than counters kept in memory: counters keep counting
across ``--once`` runs from cron, and a daemon shows what the state says. The families listed
in docs/metrics.md keep their names, types and meanings: dashboards and alerts written for
the original GitopsCompose depend on them; tests/test_docs.py holds that page to them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gitops_compose import __version__
from gitops_compose.core.reconcile.report import status_document
from gitops_compose.core.reconcile.state import State, active_counts, original_counts
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.core.reconcile.webhook import MOST_BODY_BYTES, HookResult
from gitops_compose.shell import log
from gitops_compose.shell.state_file import write_atomically
from gitops_compose.shell.status_page import SECURITY_HEADERS, StatusPage
from gitops_compose.shell.webhook import STATUS_CODES, Webhook


@final
class StateMetrics(Collector):
    def __init__(self, state: State) -> None:
        self.state = state
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        # What was drawn of which state, for each view: the state changes once a check, while
        # scrapes come every few seconds from each scraper, and drawing takes milliseconds.
        self._drawn: dict[str, tuple[State, bytes]] = {}
        self._drawing = threading.Lock()
        # Series about this process (webhook requests), drawn at every scrape.
        self.live = CollectorRegistry(auto_describe=False)

    def collect(self) -> Iterator[Metric]:
        state = self.state
        counters = state.counters
        yield CounterMetricFamily(
            "gitops_check_error", "Checks that ended early.", value=counters.check_error
        )
        yield CounterMetricFamily(
            "gitops_check_success", "Checks that ran to the end.", value=counters.check_success
        )
        for name, help_text, value in (
            ("last_error", "Unix time of the last failed check.", counters.last_error),
            ("last_success", "Unix time of the last successful check.", counters.last_success),
            ("last", "Unix time of the last check.", counters.last_check),
        ):
            yield GaugeMetricFamily(
                f"gitops_check_{name}_timestamp_seconds", help_text, value=value
            )
        active = GaugeMetricFamily(
            "gitops_deployment_active_total",
            "Managed stacks now in each status.",
            labels=["status"],
        )
        for condition, count in active_counts(state).items():
            active.add_metric([condition.value], count)
        yield active
        yield CounterMetricFamily(
            "gitops_deployment_error",
            "Stack operations that failed.",
            value=counters.deployment_error,
        )
        yield CounterMetricFamily(
            "gitops_deployment_success",
            "Stack operations that succeeded.",
            value=counters.deployment_success,
        )
        yield from _per_stack(state)
        yield from _original(state)
        build = InfoMetricFamily("gitops_build", "The running gitops-compose.")
        build.add_metric([], {"version": __version__})
        yield build

    def exposition(self) -> bytes:
        # collect() reads self.state: a state swapped while drawing is drawn next time.
        drawn = self._draw("metrics", lambda state: generate_latest(self.registry))
        return drawn + generate_latest(self.live)

    def status_json(self) -> bytes:
        """The state as ``status --format json`` prints it."""
        return self._draw("status", _status_json)

    def _draw(self, view: str, draw: Callable[[State], bytes]) -> bytes:
        # One request of a burst draws while the others wait for what it drew.
        with self._drawing:
            state = self.state
            drawn = self._drawn.get(view)
            if drawn is not None and drawn[0] is state:
                return drawn[1]
            body = draw(state)
            if self.state is state:
                self._drawn[view] = (state, body)
            return body

    def write_textfile(self, path: Path) -> None:
        """For node_exporter's textfile collector, which must never see half a file."""
        write_atomically(path, self.exposition())


def _status_json(state: State) -> bytes:
    return json.dumps(status_document(state), indent=2).encode() + b"\n"


def _original(state: State) -> Iterator[Metric]:
    """The original GitopsCompose's 2025 families, beside ours, for its dashboards."""
    counters = state.counters
    checks = CounterMetricFamily(
        "gitops_check", "Checks by outcome (the original's family).", labels=["status"]
    )
    checks.add_metric(["success"], counters.check_success)
    checks.add_metric(["error"], counters.check_error)
    yield checks
    checked = GaugeMetricFamily(
        "gitops_check_timestamp_seconds",
        "Unix time of the last check of each outcome, 0 for never (the original's family).",
        labels=["status"],
    )
    checked.add_metric(["success"], counters.last_success)
    checked.add_metric(["error"], counters.last_error)
    yield checked
    active = GaugeMetricFamily(
        "gitops_deployments_active_total",
        "Stacks in each of the original's statuses (the original's family).",
        labels=["status"],
    )
    for status, count in original_counts(state).items():
        active.add_metric([status.value], count)
    yield active
    changed = GaugeMetricFamily(
        "gitops_deployments_change_timestamp_seconds",
        "Unix time of the last stack operation that succeeded or failed, 0 for never "
        "(the original's family).",
        labels=["status"],
    )
    changed.add_metric(["success"], counters.last_deployment_success)
    changed.add_metric(["error"], counters.last_deployment_error)
    yield changed
    operations = CounterMetricFamily(
        "gitops_deployments_operations",
        "Stack operations by what they did or why they could not be done (the original's family).",
        labels=["operation"],
    )
    for operation, count in (
        ("started", counters.deployment_started),
        ("stopped", counters.deployment_stopped),
        ("updated", counters.deployment_updated),
        ("failed", counters.deployment_error),
        ("invalid", counters.deployment_invalid),
    ):
        operations.add_metric([operation], count)
    yield operations


def _per_stack(state: State) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "gitops_stack_status",
        "1 for the status each managed stack is in, 0 for the others.",
        labels=["stack", "project", "status"],
    )
    running = GaugeMetricFamily(
        "gitops_stack_running",
        "1 when the last check saw every service of the stack running, else 0.",
        labels=["stack", "project"],
    )
    deployed = InfoMetricFamily(
        "gitops_stack_deployed",
        "The commit each stack was last deployed from.",
        labels=["stack", "project"],
    )
    rollbacks = CounterMetricFamily(
        "gitops_stack_rollbacks",
        "Times each stack was rolled back to what last ran well.",
        labels=["stack", "project"],
    )
    drift = GaugeMetricFamily(
        "gitops_stack_drift",
        "1 while some service of a stack runs another configuration than its files give.",
        labels=["stack", "project"],
    )
    failures = GaugeMetricFamily(
        "gitops_stack_failures", "Failures in a row of each stack.", labels=["stack", "project"]
    )
    images = InfoMetricFamily(
        "gitops_stack_image",
        "The image id and repository digest each service ran after its last deployment.",
        labels=["stack", "project", "service"],
    )
    for path, record in sorted(state.stacks.items()):
        project = record.project or ""
        condition = record.condition
        for each in Condition:
            status.add_metric([path, project, each.value], 1 if each is condition else 0)
        running.add_metric([path, project], 0 if record.down is not None else 1)
        deployed.add_metric([path, project], {"commit": record.commit or ""})
        failures.add_metric([path, project], record.failures)
        drift.add_metric([path, project], 1 if record.drift else 0)
        rollbacks.add_metric([path, project], record.rollbacks)
        digests = dict(record.digests)
        for service, image in record.images:
            found = {"image": image, "digest": digests.get(service, "")}
            images.add_metric([path, project, service], found)
    yield status
    yield running
    yield deployed
    yield failures
    yield drift
    yield rollbacks
    yield images


# Connections the kernel holds for the server to accept. Python's default of 5 drops the
# SYNs of a burst of scrapers (32 at once from several Prometheus servers and dashboards),
# and each dropped one waits a second or more for the client to send it again.
LISTEN_BACKLOG = 128
# A client that connects and sends nothing holds its thread only this long.
IDLE_CLIENT_SECONDS = 30.0
# What is read and thrown away of a body over the limit, after its 413.
DISCARDED_BYTES = 8 * 1024 * 1024


class MetricsServer(ThreadingHTTPServer):
    """A thread for each connection, so a slow client does not hold the others up."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """One log line, never socketserver's traceback; a scraper that went away in the
        middle of its reply (its timeout, a restart) is not worth even that."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        log.event("http", logging.ERROR, error=f"{type(error).__name__}: {error}")


class MetricsServer6(MetricsServer):
    address_family = socket.AF_INET6


def serve(
    host: str,
    port: int,
    metrics: StateMetrics,
    *,
    backlog: int = LISTEN_BACKLOG,
    webhook: Webhook | None = None,
    health: Callable[[], tuple[bool, bytes]] | None = None,
    page: StatusPage | None = None,
) -> MetricsServer:
    """Serve ``/metrics`` and ``/status`` (JSON), and ``/webhook`` and ``/health`` when
    given, from a daemon thread; raises OSError.

    ``backlog`` is for the benchmark, which sets the old default beside the new one.
    ``health`` says whether the daemon is healthy, and the document to send. ``page``
    serves the status page: ``/``, ``/stacks/<path>``, ``/page.js`` and ``/page.css``.
    """

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_CLIENT_SECONDS

        def do_GET(self) -> None:
            path = self._path()
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path == "/status":
                self._reply(200, "application/json", metrics.status_json())
            elif path == "/health" and health is not None:
                healthy, document = health()
                self._reply(200 if healthy else 503, "application/json", document)
            elif page is not None and (answer := page.answer(path, self._query())) is not None:
                self._reply(*answer)
            else:
                self._other_method()

        def do_POST(self) -> None:
            if webhook is None or self._path() != "/webhook":
                self._other_method()
                return
            length = self._length()
            if length is None:
                webhook.count(HookResult.BAD_REQUEST)
                self.close_connection = True
                self._reply(400, "text/plain", b"a body with a Content-Length is needed\n")
                return
            if length > MOST_BODY_BYTES:
                webhook.count(HookResult.BAD_REQUEST)
                self.close_connection = True
                self._reply(413, "text/plain", b"the body is over 1 MiB\n")
                self._discard(length)
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            verdict = webhook.receive(headers, body)
            answer = {"result": verdict.result.value, "reason": verdict.reason}
            document = json.dumps(answer).encode() + b"\n"
            self._reply(STATUS_CODES[verdict.result], "application/json", document)

        def do_PUT(self) -> None:
            self._other_method()

        def do_DELETE(self) -> None:
            self._other_method()

        def do_PATCH(self) -> None:
            self._other_method()

        def _other_method(self) -> None:
            """404 for a path that is not served, 405 for a method it does not take."""
            path = self._path()
            if path == "/webhook" and webhook is not None:
                webhook.count(HookResult.BAD_REQUEST)
                self.close_connection = True
                self._reply(405, "text/plain", b"POST only\n", allow="POST")
            elif (
                path in ("/metrics", "/status")
                or (path == "/health" and health is not None)
                or (page is not None and page.serves(path))
            ):
                self.close_connection = True
                self._reply(405, "text/plain", b"GET only\n", allow="GET")
            else:
                self._reply(404, "text/plain", b"see /metrics and /status\n")

        def _path(self) -> str:
            return self.path.split("?", 1)[0]

        def _query(self) -> str:
            return self.path.partition("?")[2]

        def _length(self) -> int | None:
            if self.headers.get("Transfer-Encoding") is not None:
                return None
            given = self.headers.get("Content-Length", "0").strip()
            return int(given) if given.isascii() and given.isdigit() else None

        def _discard(self, length: int) -> None:
            """Read what a client sends after its answer (up to a bound), so that it reads
            the answer rather than a reset connection."""
            left = min(length, DISCARDED_BYTES)
            with contextlib.suppress(OSError):
                while left > 0:
                    chunk = self.rfile.read1(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)

        def _reply(
            self, code: int, content_type: str, body: bytes, *, allow: str | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if allow is not None:
                self.send_header("Allow", allow)
            for name, value in SECURITY_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the check log

    server_class = MetricsServer6 if ":" in host else MetricsServer
    server = server_class((host, port), Handler, bind_and_activate=False)
    server.request_queue_size = backlog
    try:
        server.server_bind()
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
