"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .pyz_build import build


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = os.environ.get("GITOPS_PYZ")
    if prebuilt:
        return Path(prebuilt).resolve()
    return build(tmp_path_factory.mktemp("pyz") / "gitops.pyz")
