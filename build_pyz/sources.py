"""The pure-Python modules the file runs: every bundled distribution's, and ours."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import ROOT
from .targets import TARGETS, Target
from .wheels import Wheels, members

PACKAGE = "gitops_compose"
# Files in the wheels that are never imported at run time.
EXCLUDED_FILES = frozenset(
    {
        "pygit2/_run.py",  # pygit2's own cffi build script; imports cffi
        "_yaml/__init__.py",  # shim for PyYAML's C extension, which is not bundled
    }
)
# Integrations with tools that are not bundled, so they could never be imported.
EXCLUDED_DIRS = (
    "returns/contrib/mypy/",
    "returns/contrib/pytest/",
    "returns/contrib/hypothesis/",
    "prometheus_client/twisted/",
    "prometheus_client/django/",
    "prometheus_client/aiohttp/",
    "certifi/tests/",  # certifi's own tests
)


def pure_sources(wheels: Wheels) -> dict[str, bytes]:
    """The run-time .py files of every bundled distribution, by path inside a tree."""
    sources = {}
    for dist, wheel in sorted(wheels.items()):
        if dist == "cffi":
            continue  # only its _cffi_backend extension runs, see build_pyz's docstring
        for info, archive in members(wheel):
            name = info.filename
            if name.split("/", 1)[0].endswith((".dist-info", ".data")):
                continue
            wanted = name not in EXCLUDED_FILES and not name.startswith(EXCLUDED_DIRS)
            if name.endswith(".py") and wanted:
                sources[name] = archive.read(info)
    return sources


# Files beside the modules that nothing reads at run time.
NOT_DATA = (".py", ".pyi", ".pyc", ".so", ".c", ".h", "py.typed")


def package_data(wheels: Wheels) -> dict[str, bytes]:
    """The files a bundled package reads beside its modules (certifi's CA bundle, Apprise's
    plugin assets), by path inside a tree: importlib.resources finds them in the zip."""
    data = {}
    for dist, wheel in sorted(wheels.items()):
        if dist == "cffi":
            continue
        for info, archive in members(wheel):
            name = info.filename
            if name.split("/", 1)[0].endswith((".dist-info", ".data")) or name.endswith("/"):
                continue
            if name.endswith(NOT_DATA) or ".so." in name or name.startswith(EXCLUDED_DIRS):
                continue
            data[name] = archive.read(info)
    return data


def python_fingerprint(wheel: Path) -> set[tuple[str, int]]:
    return {(i.filename, i.CRC) for i, _ in members(wheel) if i.filename.endswith(".py")}


def check_pure_python_identical(chosen: Mapping[Target, Wheels]) -> None:
    """The .py files come from the first target's wheels: no other target's may differ."""
    reference = chosen[TARGETS[0]]
    seen = set(reference.values())
    for wheels in chosen.values():
        for dist, wheel in wheels.items():
            if wheel in seen:
                continue
            seen.add(wheel)
            if python_fingerprint(wheel) != python_fingerprint(reference[dist]):
                raise SystemExit(f"{wheel.name}: .py files differ from {reference[dist].name}")


def project_sources() -> dict[str, bytes]:
    """gitops_compose's own modules from the working tree, without tests."""
    sources = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        # Within the package only: a checkout may itself live in a directory named tests.
        relative = path.relative_to(ROOT)
        if "tests" in relative.parts or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        sources[relative.as_posix()] = path.read_bytes()
    return sources
