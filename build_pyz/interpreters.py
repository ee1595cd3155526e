"""The CPythons on the build machine that compile each version's bytecode tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .targets import PYTHON_VERSIONS


def interpreter_version(executable: str) -> tuple[int, int] | None:
    script = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        result = subprocess.run(
            [executable, "-I", "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = result.stdout.split()
    return (int(words[1]), int(words[2])) if len(words) == 3 and words[0] == "cpython" else None


def pyenv_pythons(version: tuple[int, int]) -> list[str]:
    """pyenv's plain x.y.z installs of a version, newest first (no -dev, no free-threaded)."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    prefix = f"{version[0]}.{version[1]}."
    installs = [p for p in versions.glob(f"{prefix}*") if re.fullmatch(r"\d+\.\d+\.\d+", p.name)]
    installs.sort(key=lambda p: int(p.name.removeprefix(prefix)), reverse=True)
    return [str(p / "bin" / "python3") for p in installs]


def find_interpreters() -> dict[tuple[int, int], str]:
    """One interpreter per supported version: $GITOPS_PYZ_PYTHONS, this one, pyenv, PATH.

    The first found per version wins, so the choice is stable on a given machine. Only
    the explicit list and PATH entries are run to learn their version: this interpreter
    knows its own, and pyenv names its directories after theirs.
    """
    found: dict[tuple[int, int], str] = {}
    for executable in filter(None, os.environ.get("GITOPS_PYZ_PYTHONS", "").split(os.pathsep)):
        version = interpreter_version(executable)
        if version in PYTHON_VERSIONS and version not in found:
            found[version] = executable
    own = (sys.version_info[0], sys.version_info[1])
    if sys.implementation.name == "cpython" and own in PYTHON_VERSIONS:
        found.setdefault(own, sys.executable)
    for version in PYTHON_VERSIONS:
        if version in found:
            continue
        installed = [p for p in pyenv_pythons(version) if os.access(p, os.X_OK)]
        if installed:
            found[version] = installed[0]
            continue
        on_path = shutil.which(f"python{version[0]}.{version[1]}")
        if on_path and interpreter_version(on_path) == version:
            found[version] = on_path
    return found
