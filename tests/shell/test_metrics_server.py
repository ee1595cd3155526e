"""The daemon's HTTP server: many scrapers at once, a stalled one, and what each is sent.

Counts and contents only; how fast it answers is bench/scrape.py's business.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from gitops_compose.core.reconcile.report import status_document
from gitops_compose.core.reconcile.state import Counters, State
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell.metrics import MetricsServer, StateMetrics, serve

CLIENTS = 32


def a_state(stacks: int = 50, successes: int = 7) -> State:
    records = {
        f"stack{n:02d}": StackStatus(f"stack{n:02d}", Status.OK, commit=f"{n:040x}")
        for n in range(stacks)
    }
    return State(counters=Counters(check_success=successes), stacks=records)


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, StateMetrics]]:
    metrics = StateMetrics(a_state())
    server = serve("127.0.0.1", 0, metrics)
    try:
        yield server, metrics
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Status code and body of one GET on a new connection."""
    with socket.create_connection((host, port), timeout=20) as connection:
        connection.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def port_of(server: MetricsServer) -> int:
    return int(server.server_address[1])


def test_the_kernel_holds_at_least_64_connections_waiting_to_be_accepted(
    served: tuple[MetricsServer, StateMetrics],
) -> None:
    server, _ = served
    assert server.request_queue_size >= 64
    ss = shutil.which("ss")
    if ss is not None:
        # For a listening socket, ss shows the backlog it listens with as Send-Q.
        listed = subprocess.run(
            [ss, "-ltnH", f"sport = :{port_of(server)}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert int(listed[2]) == server.request_queue_size


def test_32_scrapers_at_once_are_all_answered_while_one_client_sends_nothing(
    served: tuple[MetricsServer, StateMetrics],
) -> None:
    server, metrics = served
    port = port_of(server)
    # A client that connects and never sends its request: a server that handled one
    # connection at a time would wait for it (30 s) and leave the others unanswered.
    with socket.create_connection(("127.0.0.1", port), timeout=20):
        paths = ["/metrics" if n % 2 else "/status" for n in range(CLIENTS)]
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            replies = list(pool.map(lambda path: get(port, path), paths))
    assert [code for code, _ in replies] == [200] * CLIENTS
    assert {body for path, (_, body) in zip(paths, replies, strict=True) if path == "/metrics"} == {
        metrics.exposition()
    }
    statuses = [
        json.loads(body)
        for path, (_, body) in zip(paths, replies, strict=True)
        if path == "/status"
    ]
    assert statuses == [status_document(metrics.state)] * (CLIENTS // 2)


def test_a_scrape_after_a_check_shows_the_new_state(
    served: tuple[MetricsServer, StateMetrics],
) -> None:
    server, metrics = served
    port = port_of(server)
    assert b"gitops_check_success_total 7.0" in get(port, "/metrics")[1]
    assert json.loads(get(port, "/status")[1])["checks"]["success"] == 7

    metrics.state = a_state(stacks=3, successes=8)

    exposition = get(port, "/metrics")[1]
    assert b"gitops_check_success_total 8.0" in exposition
    assert b'stack="stack02"' in exposition
    assert b'stack="stack03"' not in exposition
    document = json.loads(get(port, "/status")[1])
    assert document == status_document(metrics.state)
    assert document["checks"]["success"] == 8


def test_an_ipv6_address_is_served() -> None:
    metrics = StateMetrics(a_state())
    server = serve("::1", 0, metrics)
    try:
        code, body = get(port_of(server), "/metrics", host="::1")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 200
    assert body == metrics.exposition()


def test_another_path_is_a_404_that_names_the_two(
    served: tuple[MetricsServer, StateMetrics],
) -> None:
    server, _ = served
    assert get(port_of(server), "/health") == (404, b"see /metrics and /status\n")
