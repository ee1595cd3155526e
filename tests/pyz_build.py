"""Building gitops.pyz for the tests, and finding the CPythons it must run under."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "build_zipapp.py"


class Interpreter(NamedTuple):
    version: tuple[int, int]
    executable: str

    @property
    def label(self) -> str:
        return f"{self.version[0]}.{self.version[1]}:{self.executable}"


def _is_native_executable(path: Path) -> bool:
    """True for a real interpreter binary, false for wrapper scripts such as pyenv shims."""
    try:
        with path.open("rb") as stream:
            return stream.read(4) == b"\x7fELF"
    except OSError:
        return False


@cache
def _all_interpreters() -> tuple[Interpreter, ...]:
    """Every CPython on this machine, by version (from its pyenv dir or its pythonX.Y name).

    Found without running anything, since test collection calls this. The first of each
    real binary wins; pyenv's free-threaded and -dev builds are left out.
    """
    candidates: list[tuple[tuple[int, int], Path]] = []
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for directory in sorted(pyenv.glob("*")):
        match = re.fullmatch(r"(\d+)\.(\d+)\.\d+", directory.name)
        if match:
            version = (int(match[1]), int(match[2]))
            candidates.append((version, directory / "bin" / f"python{version[0]}"))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        for path in sorted(Path(entry or ".").glob("python[23].*")):
            match = re.fullmatch(r"python(\d+)\.(\d+)", path.name)
            if match:
                candidates.append(((int(match[1]), int(match[2])), path))
    found: dict[Path, Interpreter] = {}
    for version, path in candidates:
        if _is_native_executable(path) and path.resolve() not in found:
            found[path.resolve()] = Interpreter(version, str(path))
    return tuple(sorted(found.values()))


def pyz_interpreters() -> list[Interpreter]:
    """The CPythons >= 3.11 on this machine: the ones gitops.pyz must run under."""
    return [i for i in _all_interpreters() if i.version >= (3, 11)]


def old_interpreters() -> list[Interpreter]:
    """The CPythons < 3.11 on this machine: gitops.pyz must refuse them in one line."""
    return [i for i in _all_interpreters() if i.version < (3, 11)]


def build(output: Path, *extra: str) -> Path:
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--output", str(output), *extra],
        capture_output=True,
        text=True,
        timeout=1800,  # a cold wheel cache downloads about 60 MB
        check=False,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}{result.stderr}"
    return output
