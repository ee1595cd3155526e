"""The conformance run: every case tried once per session, in parallel, and its counts."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from gitops_compose.core.compose.snapshot import COMPOSE_FILE_NAMES, OVERRIDE_FILE_NAMES

from ..conftest import SUMMARY
from .compose_view import ComposeView, compose_tools_problem, compose_view
from .core_view import CoreView, committed_repository, core_view
from .corpus import CORPUS, case, case_names
from .difference import Difference, differences, known

# Compose calls wait on the CLI and its plugin more than on the CPU.
_WORKERS = 8


@dataclass
class Tried:
    """What the run found; filled by the session fixture, printed at the end."""

    views: dict[str, tuple[CoreView, ComposeView]] = field(default_factory=dict)
    found: dict[str, list[Difference]] = field(default_factory=dict)


TRIED = Tried()


def _require() -> bool:
    return os.environ.get("GITOPS_E2E") == "require"


@pytest.fixture(scope="session")
def tried() -> Iterator[Tried]:
    """Every case against the real Compose. Missing tools skip, or fail under
    GITOPS_E2E=require, as the e2e tests do."""
    problem = compose_tools_problem()
    if problem is None and not CORPUS.is_dir():
        problem = f"no Compose corpus at {CORPUS} (set GITOPS_COMPOSE_CORPUS)"
    if problem is not None:
        if _require():
            pytest.fail(f"GITOPS_E2E=require but {problem}", pytrace=False)
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="conformance-") as scratch:
        with ThreadPoolExecutor(_WORKERS) as pool:
            tried = list(pool.map(lambda name: _try(Path(scratch), name), case_names()))
        for name, (core, compose, again) in zip(case_names(), tried, strict=True):
            # Under load the trace of Compose's threads now and then loses an open: a file
            # the core counts that Compose seems not to read is traced again, one case at
            # a time once the others are done, four times at most.
            seen = compose
            for _ in range(4):
                if not seen.loads or not (core.files - seen.files - core.owned):
                    break
                seen = replace(seen, files=seen.files | again().files)
            TRIED.views[name] = (core, seen)
            TRIED.found[name] = sorted(differences(name, case(name).stack, core, seen))
        yield TRIED


def _try(scratch: Path, name: str) -> tuple[CoreView, ComposeView, Callable[[], ComposeView]]:
    found = case(name)
    directory = (scratch / uuid.uuid4().hex[:12]).resolve()
    commit = committed_repository(directory, found.tree)
    core = core_view(directory, commit, found.stack)
    # Nothing runs (config starts nothing), but a unique name keeps clear of other projects.
    project = core.project or f"conformance-{uuid.uuid4().hex[:8]}"
    files = _compose_files(found.tree, found.stack)

    def again() -> ComposeView:
        return compose_view(directory, found.stack, files, project)

    return core, again(), again


def _compose_files(tree: Mapping[str, bytes], stack: str) -> list[str]:
    """The stack's Compose file and override, as the product passes them with -f."""
    prefix = "" if stack == "." else f"{stack}/"
    main = next(f"{prefix}{each}" for each in COMPOSE_FILE_NAMES if f"{prefix}{each}" in tree)
    override = [f"{prefix}{each}" for each in OVERRIDE_FILE_NAMES if f"{prefix}{each}" in tree]
    return [main, *override[:1]]


def _counts() -> str | None:
    """The run's counts in one line, once the cases were tried in this process."""
    if not TRIED.found:
        return None
    listed = set(known())
    agreed = sum(1 for each in TRIED.found.values() if not each)
    observed = [each for found in TRIED.found.values() for each in found]
    explained = sum(1 for each in observed if each in listed)
    traced = sum(1 for e in observed if e not in listed and e.aspect == "files extra")
    return (
        f"conformance: {len(TRIED.found)} Compose files tried, {agreed} agreed with Compose, "
        f"{len(TRIED.found) - agreed} with differences: {explained} known differences, "
        f"{len(observed) - explained - traced} not listed, {traced} files extra the trace "
        f"did not show (not failed on), {len(listed - set(observed))} listed but no longer seen"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist only the controller prints: hand the line over (see tests/conftest.py).
    output: dict[str, object] | None = getattr(session.config, "workeroutput", None)
    counts = _counts()
    if output is not None and counts is not None:
        output[SUMMARY] = [("conformance with docker compose", counts)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = _counts()
    if counts is not None:
        terminalreporter.write_sep("-", "conformance with docker compose")
        terminalreporter.write_line(counts)
