"""requirements/pyz.txt: the wheels bundled into the file, pinned with their hashes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from . import ROOT

LOCK = ROOT / "requirements" / "pyz.txt"


class Pin(NamedTuple):
    name: str  # normalized distribution name
    version: str
    hashes: frozenset[str]
    spelling: str  # the name as written in the lock file


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """Parse a pip requirements file of `name==version --hash=sha256:...` entries."""
    pins = []
    for line in path.read_text().replace("\\\n", " ").splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name, sep, version = words[0].partition("==")
        if not sep:
            raise SystemExit(f"{path}: every requirement must be pinned with ==: {words[0]}")
        prefix = "--hash=sha256:"
        hashes = frozenset(w.removeprefix(prefix) for w in words[1:] if w.startswith(prefix))
        pins.append(Pin(normalize(name), version, hashes, name))
    return pins


def write_lock(path: Path, pins: Iterable[Pin]) -> None:
    lines = [
        "# Wheels bundled into dist/gitops.pyz, for every target in build_pyz/targets.py.",
        "# Written by `python build_zipapp.py --lock` (edit a version, then rerun it).",
        "# Usable as is with `pip download --require-hashes --no-deps --only-binary=:all:`.",
    ]
    for pin in sorted(pins):
        digests = [f"    --hash=sha256:{digest}" for digest in sorted(pin.hashes)]
        lines.append(" \\\n".join([f"{pin.spelling}=={pin.version}", *digests]))
    path.write_text("\n".join(lines) + "\n")
