"""What the file runs on: CPython versions times platforms, each pair a target."""

from __future__ import annotations

from dataclasses import dataclass

PYTHON_VERSIONS = ((3, 11), (3, 12), (3, 13), (3, 14))


@dataclass(frozen=True)
class Platform:
    libc: str  # "manylinux" or "musllinux", the wheel tag family
    arch: str
    pip_tags: tuple[str, ...]  # the wheel platform tags pip may pick for this platform

    @property
    def name(self) -> str:
        return f"{self.libc}_{self.arch}"


def manylinux(arch: str) -> Platform:
    # cffi ships only manylinux2014 (= 2.17) tags, pygit2 2.26/2.28 ones: list them all, and
    # nothing newer than 2.28 so that the file keeps running on glibc 2.28 hosts.
    tags = (f"manylinux2014_{arch}", *(f"manylinux_2_{minor}_{arch}" for minor in range(17, 29)))
    return Platform("manylinux", arch, tags)


def musllinux(arch: str) -> Platform:
    return Platform("musllinux", arch, (f"musllinux_1_1_{arch}", f"musllinux_1_2_{arch}"))


PLATFORMS = (manylinux("x86_64"), manylinux("aarch64"), musllinux("x86_64"), musllinux("aarch64"))


@dataclass(frozen=True)
class Target:
    version: tuple[int, int]
    platform: Platform

    @property
    def tag(self) -> str:
        return f"cp{self.version[0]}{self.version[1]}"

    @property
    def key(self) -> str:
        return f"{self.tag}-{self.platform.name}"


TARGETS = tuple(Target(v, p) for p in PLATFORMS for v in PYTHON_VERSIONS)
