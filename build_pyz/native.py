"""The compiled parts of pygit2 and cffi: each distinct file stored once, a set per target."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .manifest import NativeFile, NativeSet
from .targets import Platform, Target
from .wheels import WheelCache, WheelName, Wheels, members
from .zip_writer import Entry, raw_entry

# Distributions whose compiled parts are bundled; every other pinned one is pure Python.
NATIVE_DISTS = ("pygit2", "cffi")
MODE = 0o755


def is_shared_object(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


def module_name(relpath: str) -> str | None:
    """`pygit2/_pygit2.cpython-311-x86_64-linux-gnu.so` -> `pygit2._pygit2`; None for a library."""
    *dirs, base = relpath.split("/")
    if any(d.endswith(".libs") for d in dirs) or not base.endswith(".so"):
        return None
    return ".".join([*dirs, base.split(".", 1)[0]])


class NativeCollector:
    """Gathers native files across targets, storing each distinct content once.

    Content hashes need the inflated bytes; they are remembered per wheel hash in the
    build cache, so a warm build reads only the compressed members it copies.
    """

    def __init__(self, cache: WheelCache, build_cache: Path) -> None:
        self.cache = cache
        self.digests_dir = build_cache / "native-digests"
        self.objects: dict[str, Entry] = {}  # archive member -> its stored bytes
        self.names: dict[str, str] = {}  # content sha256 -> archive member

    def content_digests(self, wheel: Path) -> dict[str, str]:
        record = self.digests_dir / f"{self.cache.digest(wheel)}.json"
        if record.is_file():
            loaded: dict[str, str] = json.loads(record.read_text())
            return loaded
        digests = {
            info.filename: hashlib.sha256(archive.read(info)).hexdigest()
            for info, archive in members(wheel)
            if is_shared_object(info.filename)
        }
        self.digests_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(digests, sort_keys=True))
        return digests

    def collect(self, target: Target, wheels: Wheels) -> NativeSet:
        files: list[tuple[str, str, int]] = []  # (path in the entry, archive member, mode)
        for dist in NATIVE_DISTS:
            digests = self.content_digests(wheels[dist])
            for info, archive in members(wheels[dist]):
                digest = digests.get(info.filename)
                if digest is None:
                    continue
                if digest not in self.names:
                    base = info.filename.rsplit("/", 1)[-1]
                    self.names[digest] = f"native/{digest[:16]}/{base}"
                    self.objects[self.names[digest]] = raw_entry(archive, info, MODE)
                files.append((info.filename, self.names[digest], MODE))
        files.sort()
        content = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
        return NativeSet(
            entry=f"{target.key}-{content}",
            files=[NativeFile(path=path, member=member, mode=mode) for path, member, mode in files],
            modules={m: rel for rel, _, _ in files if (m := module_name(rel)) is not None},
        )


def oldest_libc(wheels: Wheels, platform: Platform) -> str:
    """The oldest libc that every native wheel accepts: the newest of their lowest tags."""
    if platform.libc == "musllinux":
        return "1.2"
    floors = []
    for dist in NATIVE_DISTS:
        wheel = WheelName.parse(wheels[dist].name)
        assert wheel is not None
        floors.append(
            min(
                (2, 17) if tag.startswith("manylinux2014") else tuple(map(int, tag.split("_")[1:3]))
                for tag in wheel.platforms
            )
        )
    major, minor = max(floors)
    return f"{major}.{minor}"
