"""The pinned wheels of every target: names, the local cache, pip downloads, members."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from . import ROOT
from .lock import LOCK, Pin, normalize, write_lock
from .targets import TARGETS, Target

WHEEL_CACHE = ROOT / ".cache" / "wheels"


class WheelName(NamedTuple):
    dist: str
    version: str
    pythons: frozenset[str]
    abis: frozenset[str]
    platforms: frozenset[str]

    @classmethod
    def parse(cls, filename: str) -> WheelName | None:
        parts = filename.removesuffix(".whl").split("-")
        if not filename.endswith(".whl") or len(parts) not in (5, 6):
            return None
        py, abi, plat = (frozenset(p.split(".")) for p in parts[-3:])
        return cls(normalize(parts[0]), parts[1], py, abi, plat)

    def fits(self, target: Target) -> bool:
        if "any" not in self.platforms and not self.platforms & set(target.platform.pip_tags):
            return False
        minor = target.version[1]
        for py in self.pythons:
            if target.tag in self.abis and py == target.tag:
                return True
            if "abi3" in self.abis and py.startswith("cp3") and int(py[3:]) <= minor:
                return True
            if "none" in self.abis and py in ("py3", f"py3{minor}", target.tag):
                return True
        return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class WheelCache:
    """The directory of downloaded wheels, each hashed at most once per build."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._hashes: dict[Path, str] = {}

    def digest(self, path: Path) -> str:
        if path not in self._hashes:
            self._hashes[path] = sha256_file(path)
        return self._hashes[path]

    def find(self, pin: Pin, target: Target, *, check_hash: bool = True) -> Path | None:
        """The cached wheel of `pin` for `target` (the first by name if several fit)."""
        if not self.directory.is_dir():
            return None
        for path in sorted(self.directory.glob("*.whl")):
            wheel = WheelName.parse(path.name)
            if wheel is None or (wheel.dist, wheel.version) != (pin.name, pin.version):
                continue
            if wheel.fits(target) and (not check_hash or self.digest(path) in pin.hashes):
                return path
        return None

    def download(self, target: Target, requirements: list[str]) -> None:
        """Fetch one target's wheels; pip keeps files already in the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        platforms = [arg for tag in target.platform.pip_tags for arg in ("--platform", tag)]
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", f"{target.version[0]}.{target.version[1]}",
            "--abi", target.tag, "--abi", "abi3", "--abi", "none", *platforms,
            "--dest", str(self.directory), *requirements,
        ]  # fmt: skip
        print(f"downloading wheels for {target.key}", file=sys.stderr)
        subprocess.run(command, check=True)


Wheels = dict[str, Path]  # normalized distribution name -> wheel file


def resolve_wheels(cache: WheelCache, pins: list[Pin]) -> dict[Target, Wheels]:
    """Each target's wheel per distribution, downloading only what the cache lacks."""
    chosen: dict[Target, Wheels] = {}
    for target in TARGETS:
        found = {pin.name: cache.find(pin, target) for pin in pins}
        if None in found.values():
            cache.download(target, ["--require-hashes", "-r", str(LOCK)])
            found = {pin.name: cache.find(pin, target) for pin in pins}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise SystemExit(f"no wheel in {LOCK.name} for {target.key}: {', '.join(missing)}")
        chosen[target] = {name: path for name, path in found.items() if path is not None}
    return chosen


def relock(cache: WheelCache, pins: list[Pin]) -> None:
    """Download every target's wheels of the pinned versions and write down their hashes."""
    hashes: dict[str, set[str]] = {pin.name: set() for pin in pins}
    for target in TARGETS:
        cache.download(target, [f"{pin.spelling}=={pin.version}" for pin in pins])
        for pin in pins:
            path = cache.find(pin, target, check_hash=False)
            if path is None:
                raise SystemExit(f"pip found no wheel of {pin.name} {pin.version} for {target.key}")
            hashes[pin.name].add(cache.digest(path))
    write_lock(LOCK, [pin._replace(hashes=frozenset(hashes[pin.name])) for pin in pins])
    print(f"wrote {LOCK.relative_to(ROOT)}", file=sys.stderr)


def members(wheel: Path) -> Iterator[tuple[zipfile.ZipInfo, zipfile.ZipFile]]:
    """Every file in a wheel, with the open archive to read it from."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info, archive
