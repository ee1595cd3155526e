"""32 concurrent scrapers against the daemon's HTTP server, beside the same server with the
old listen backlog of 5.

    python bench/scrape.py [--clients N] [--requests N] [--stacks N] [--rounds N]

Starts two servers, each in a process of its own: the real ``serve`` of
gitops_compose/shell/metrics.py, with the ``StateMetrics`` of a state of N stacks (50 by
default, a third of them in error), once with its own listen backlog and once with 5
(Python's default, what it had before). Then, in rounds that alternate between the two so
that both see the same machine load, N clients at once (32) each make M requests (20) on a
new connection each, `/metrics` and `/status` in turn. Prints p50, p99 and the slowest
request of each server and the ratios between them. The goal: p99 under 100 ms.

Then the status page: on the server with its own backlog, N clients at once (32) each
reload ``/`` M times (with the full history of 200 events in the state) while 4 scrapers
fetch ``/metrics`` M times each; prints the p50 and p99 of both. The goal: ``/metrics``
p99 under 100 ms.

Only the loopback address is used, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops_compose.core.reconcile.health import Health, HealthReport  # noqa: E402
from gitops_compose.core.reconcile.history import (  # noqa: E402
    MOST_ENTRIES,
    Happening,
    HistoryEntry,
)
from gitops_compose.core.reconcile.state import Counters, State  # noqa: E402
from gitops_compose.core.reconcile.status import StackStatus, Status  # noqa: E402
from gitops_compose.shell.metrics import LISTEN_BACKLOG, StateMetrics, serve  # noqa: E402
from gitops_compose.shell.status_page import PageFacts, StatusPage  # noqa: E402

GOAL_SECONDS = 0.100
OLD_BACKLOG = 5
PATHS = ("/metrics", "/status")
REQUEST_TIMEOUT = 30.0
SCRAPERS = 4


def a_state(stacks: int) -> State:
    records = {}
    for n in range(stacks):
        failed = n % 3 == 0
        records[f"group{n % 5}/stack{n:03d}"] = StackStatus(
            project=f"group{n % 5}-stack{n:03d}",
            status=Status.ERROR if failed else Status.OK,
            error="exit 1: manifest unknown" if failed else None,
            fingerprint=f"{n:040x}",
            commit=f"{n + 1:040x}",
            error_at=1.7e9 if failed else None,
            failures=1 + n % 4 if failed else 0,
        )
    counters = Counters(check_success=1000, check_error=3, last_check=1.7e9)
    paths = sorted(records)
    history = tuple(
        HistoryEntry(
            paths[n % len(paths)], tuple(Happening)[n % len(Happening)], 1.7e9 + n, f"{n:040x}"
        )
        for n in range(MOST_ENTRIES)
    )
    return State(full_pass_done=True, counters=counters, stacks=records, history=history)


def run_server(backlog: int, stacks: int) -> None:
    """The child: serve on an ephemeral loopback port, print it, stay until stdin closes."""
    metrics = StateMetrics(a_state(stacks))
    facts = PageFacts(
        host="bench",
        followed="origin (https://***@example.com/r.git)",
        branch="main",
        interval=60.0,
    )
    page = StatusPage(
        lambda: metrics.state, facts, lambda: HealthReport(Health.OK, "checks succeed")
    )
    server = serve("127.0.0.1", 0, metrics, backlog=backlog, page=page)
    print(server.server_address[1], flush=True)
    sys.stdin.read()


def start_server(backlog: int, stacks: int) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(backlog), "--stacks", str(stacks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline())


async def get(port: int, path: str) -> float:
    """One request on a new connection, read to its end: the seconds it took."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        reply = await reader.read()  # the server closes the connection after its reply
    finally:
        writer.close()
    if not reply.startswith(b"HTTP/1.0 200 ") or b"\r\n\r\n" not in reply:
        raise SystemExit(f"GET {path}: {reply[:80]!r}")
    return time.perf_counter() - start


async def burst(port: int, clients: int, requests: int) -> list[float]:
    """``clients`` clients at once, each making ``requests`` requests one after another.

    The clients share one thread and an event loop, as a scraper written in Go would share
    a process: 32 Python threads would spend their time waiting for each other."""

    async def client(index: int) -> list[float]:
        return [await get(port, PATHS[(index + n) % len(PATHS)]) for n in range(requests)]

    together = asyncio.gather(*(client(n) for n in range(clients)))
    done = await asyncio.wait_for(together, timeout=REQUEST_TIMEOUT * requests)
    return [seconds for each in done for seconds in each]


async def page_burst(port: int, clients: int, requests: int) -> tuple[list[float], list[float]]:
    """``clients`` reloading the page while ``SCRAPERS`` scrape: (page times, scrape times)."""

    async def reloading() -> list[float]:
        return [await get(port, "/") for _ in range(requests)]

    async def scraping() -> list[float]:
        return [await get(port, "/metrics") for _ in range(requests)]

    pages = asyncio.gather(*(reloading() for _ in range(clients)))
    scrapes = asyncio.gather(*(scraping() for _ in range(SCRAPERS)))
    both = asyncio.gather(pages, scrapes)
    page_times, scrape_times = await asyncio.wait_for(both, timeout=REQUEST_TIMEOUT * requests)
    return (
        [seconds for each in page_times for seconds in each],
        [seconds for each in scrape_times for seconds in each],
    )


def percentile(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve is not None:
        run_server(options.serve, options.stacks)
        return 0
    backlogs = {"now": LISTEN_BACKLOG, "old": OLD_BACKLOG}
    servers = {name: start_server(backlog, options.stacks) for name, backlog in backlogs.items()}
    times: dict[str, list[float]] = {name: [] for name in backlogs}
    page_times: list[float] = []
    scrape_times: list[float] = []
    try:
        for _, port in servers.values():
            asyncio.run(get(port, "/metrics"))  # warm: the first one imports and draws
        for _ in range(options.rounds):
            for name, (_, port) in servers.items():
                times[name] += asyncio.run(burst(port, options.clients, options.requests))
        for _ in range(options.rounds):
            pages, scrapes = asyncio.run(
                page_burst(servers["now"][1], options.clients, options.requests)
            )
            page_times += pages
            scrape_times += scrapes
    finally:
        for child, _ in servers.values():
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)
    print(
        f"{options.clients} concurrent clients x {options.requests} requests x "
        f"{options.rounds} rounds, /metrics and /status of {options.stacks} stacks"
    )
    print(f"  {'listen backlog':<18} {'p50':>9} {'p99':>9} {'slowest':>9}")
    for name, backlog in backlogs.items():
        label = f"{backlog} ({name})"
        found = times[name]
        p50, p99 = percentile(found, 0.50), percentile(found, 0.99)
        print(f"  {label:<18} {p50 * 1e3:7.1f}ms {p99 * 1e3:7.1f}ms {max(found) * 1e3:7.1f}ms")
    now, old = times["now"], times["old"]
    print(
        f"  old/now: p50 {statistics.median(old) / statistics.median(now):.1f}x, "
        f"p99 {percentile(old, 0.99) / percentile(now, 0.99):.1f}x"
    )
    verdict = "met" if percentile(now, 0.99) < GOAL_SECONDS else "NOT met"
    print(f"  goal: p99 under {GOAL_SECONDS * 1e3:.0f} ms with backlog {LISTEN_BACKLOG}: {verdict}")
    print(
        f"{options.clients} clients reloading the status page x {options.requests} x "
        f"{options.rounds} rounds, while {SCRAPERS} scrapers fetch /metrics"
    )
    for label, found in (("/ (page)", page_times), ("/metrics", scrape_times)):
        p50, p99 = percentile(found, 0.50), percentile(found, 0.99)
        print(f"  {label:<18} {p50 * 1e3:7.1f}ms {p99 * 1e3:7.1f}ms {max(found) * 1e3:7.1f}ms")
    verdict = "met" if percentile(scrape_times, 0.99) < GOAL_SECONDS else "NOT met"
    print(f"  goal: /metrics p99 under {GOAL_SECONDS * 1e3:.0f} ms under page reloads: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
