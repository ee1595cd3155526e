"""Fixtures for end-to-end tests against the real Docker engine and git; see harness.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import World, engine_problem

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this directory's.
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def engine() -> str:
    """The real docker CLI's absolute path, once the engine is known to be usable.

    Installs belong to `make engine` (scripts/engine.sh ensure), never to pytest. With
    GITOPS_E2E=require a missing engine fails the run instead of skipping it, so CI cannot
    pass green having tested nothing.
    """
    problem = engine_problem()
    if problem is not None:
        if os.environ.get("GITOPS_E2E") == "require":
            pytest.fail(f"GITOPS_E2E=require but {problem}", pytrace=False)
        pytest.skip(problem)
    real = shutil.which("docker")
    assert real is not None
    return real


@pytest.fixture
def world(engine: str, tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, engine)
    try:
        yield w
    finally:
        w.cleanup()
