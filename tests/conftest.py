"""Fixtures shared by the whole suite, and how it is spread over pytest-xdist's workers."""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

from .pyz_build import build

# Under xdist only the controller prints: a worker's conftest leaves the lines of its terminal
# summary, as [(title, line), ...], in workeroutput[SUMMARY]; the controller prints them.
SUMMARY = "summary"
_FROM_WORKERS: list[tuple[str, str]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    output: dict[str, object] = getattr(node, "workeroutput", {})
    lines = output.get(SUMMARY)
    if isinstance(lines, list):
        _FROM_WORKERS.extend((str(title), str(line)) for title, line in lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, line in _FROM_WORKERS:
        terminalreporter.write_sep("-", title)
        terminalreporter.write_line(line)


# Under `--dist loadgroup` (make test), tests are handed to the workers one by one, so a long
# file does not hold one worker at the end, except these, which each stay on one worker:
# the conformance cases (one session fixture traces them all at once: once per run, not once
# per worker), gitops.pyz's own tests (their session fixtures) and the Swarm tests (the Swarm
# is made once and left once). By path, in the scheduler below: xdist's own grouping, by an
# `xdist_group` mark, appends the group to `item._nodeid`, which pytest 9.2 no longer reads.
GROUPS = {
    "tests/conformance/": "conformance",
    "tests/test_pyz.py::": "pyz",
    "tests/e2e/test_swarm.py::": "swarm",
}


class _Groups(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling with a scope per test, but one per group of GROUPS."""

    def _split_scope(self, nodeid: str) -> str:
        for prefix, group in GROUPS.items():
            if nodeid.startswith(prefix):
                return group
        return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> _Groups | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return _Groups(config, log)


@pytest.fixture(scope="session")
def pyz(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gitops.pyz of this checkout, built once per run: under xdist, the first worker to
    need it builds it (about 45 s) into the run's shared temporary directory, the others wait
    for it there."""
    prebuilt = os.environ.get("GITOPS_PYZ")
    if prebuilt:
        return Path(prebuilt).resolve()
    if not hasattr(request.config, "workerinput"):  # no xdist worker: this process alone
        return build(tmp_path_factory.mktemp("pyz") / "gitops.pyz")
    # The workers' base directories are siblings in this run's own directory.
    shared = tmp_path_factory.getbasetemp().parent / "pyz"
    shared.mkdir(exist_ok=True)
    built = shared / "gitops.pyz"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            # Renamed into place once whole: a failed build leaves nothing to reuse.
            partial = build(shared / f"gitops-{uuid.uuid4().hex[:8]}.pyz")
            partial.replace(built)
    return built


@pytest.fixture
def json_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """An Apprise ``json://`` URL served in this process, and the bodies posted to it."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/", bodies
    finally:
        server.shutdown()
        server.server_close()
