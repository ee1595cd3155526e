"""The functional core does no I/O: no module of gitops_compose.core imports one that could."""

import ast
from pathlib import Path

import pytest

import gitops_compose.core

CORE = Path(gitops_compose.core.__file__).parent
FORBIDDEN = frozenset(
    {
        "subprocess",
        "os",
        "socket",
        "threading",
        "time",
        "pygit2",
        "prometheus_client",
        "gitops_compose.shell",
        "random",
        "datetime",
        "pathlib",
        "shutil",
        "io",
    }
)


def forbidden_imports(source: str, module: str = "gitops_compose.core") -> list[str]:
    """Every import in ``source`` (at any depth, inside functions too) of a forbidden module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            if _is_forbidden(base):
                found.append(base)
            else:  # from gitops_compose import shell
                names = (f"{base}.{alias.name}" for alias in node.names)
                found += [name for name in names if _is_forbidden(name)]
    return found


def imported_modules(source: str, module: str) -> list[str]:
    """Every module ``source`` imports, at any depth, as absolute names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if not node.level:
        return node.module or ""
    package = module.rsplit(".", node.level)[0]
    return f"{package}.{node.module}" if node.module else package


def _is_forbidden(name: str) -> bool:
    return any(name == each or name.startswith(f"{each}.") for each in FORBIDDEN)


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(("gitops_compose", "core", *parts))


def test_the_scan_sees_the_core() -> None:
    assert {path.stem for path in core_modules()} >= {"plan", "stack", "snapshot", "outcome"}


@pytest.mark.parametrize("path", core_modules(), ids=module_name)
def test_core_module_imports_nothing_that_does_io(path: Path) -> None:
    module = module_name(path)
    assert forbidden_imports(path.read_text(), module) == []


@pytest.mark.parametrize("path", sorted((CORE / "compose").rglob("*.py")), ids=module_name)
def test_how_compose_reads_a_stack_does_not_reach_into_reconciling(path: Path) -> None:
    module = module_name(path)
    reaching = [
        name
        for name in imported_modules(path.read_text(), module)
        if name.startswith("gitops_compose.core.reconcile")
    ]
    assert reaching == []


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("import subprocess", ["subprocess"]),
        ("from os import environ", ["os"]),
        ("import os.path", ["os.path"]),
        ("import json, time as clock", ["time"]),
        ("def now():\n    from datetime import datetime\n    return datetime.now()", ["datetime"]),
        ("from gitops_compose.shell.cli import main", ["gitops_compose.shell.cli"]),
        ("from ...shell import check", ["gitops_compose.shell"]),
        ("from ... import shell", ["gitops_compose.shell"]),
        ("from gitops_compose import core, shell", ["gitops_compose.shell"]),
        ("import posixpath\nfrom collections import Counter", []),
        ("from gitops_compose.core.compose.stack import Stack", []),
    ],
)
def test_the_scan_reports_forbidden_imports(source: str, reported: list[str]) -> None:
    assert forbidden_imports(source, "gitops_compose.core.reconcile.plan") == reported
