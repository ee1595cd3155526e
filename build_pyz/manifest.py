"""The manifest: everything the build tells the bootstrap, as one value with named fields.

The build writes it once, as the module `gitops_pyz_manifest` holding one assignment,

    MANIFEST = {"targets": {...}, "sources": {...}, "on_demand": {...}, "supports": "..."}

a Python literal of dicts, lists, strings and ints keyed by the field names below (the repr
of a `Manifest`). The archive carries that module compiled in every bytecode tree
(lib/cpXY/gitops_pyz_manifest.pyc) and as source in lib/boot/, and the same value as JSON in
native/manifest.json for people and tests to read.

Both stages of the bootstrap read it by field name:

- pyz_boot/main.py (the archive's __main__.py, stored as written) loads it from the running
  version's bytecode tree, or from lib/boot/ when that tree is missing or was written by
  another bytecode format, and uses `targets` and `supports` to accept or refuse the
  interpreter. A literal is the one format that any CPython from 2.7 on reads without
  importing anything: json would cost the `re` module on every start.
- pyz_boot/gitops_pyz_boot.py is handed the value and unpacks `targets[key].native`, for
  a version without bytecode `sources`, and `on_demand[tree]` at the first import of one
  of its packages.

These are TypedDicts so that the literal needs no code to be read: the types exist for mypy,
which checks the builder and both stages against this one definition (the first stage
imports it only under `if MYPY:`, so it never runs there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

MODULE = "gitops_pyz_manifest"  # the module the build writes and the first stage loads


class NativeFile(TypedDict):
    path: str  # where it goes inside the cache entry, e.g. "pygit2/_libgit2.abi3.so"
    member: str  # the archive member holding it: "native/<content hash>/<file name>"
    mode: int


class NativeSet(TypedDict):
    """The native files one target unpacks, and the extension modules among them."""

    entry: str  # cache directory name: the target key plus a hash of the set's content
    files: Sequence[NativeFile]  # sorted by path
    modules: Mapping[str, str]  # extension module name -> path inside the entry


class Target(TypedDict):
    """One interpreter and platform the file runs on: "cp311-manylinux_x86_64"."""

    oldest_libc: str  # the oldest glibc every native wheel accepts ("2.26"); "1.2" on musl
    native: NativeSet


class Sources(TypedDict):
    """The pure-Python sources, for a supported version that got no bytecode tree."""

    entry: str  # cache directory name: "sources-" plus a hash of the member
    member: str  # the nested zip of sources in the archive: "lib/sources.zip"


class OnDemand(TypedDict):
    """A bytecode tree's packages that only some runs import (notifications: Apprise and
    what it needs), as one nested zip: unpacked into the cache, and put on sys.path, at the
    first import of one of them. Every check would otherwise parse their entries in the
    archive's central directory, two thirds of it, on every start."""

    entry: str  # cache directory name: "on-demand-" plus the tag and a hash of the member
    member: str  # the nested zip in the archive: "lib/cp311-on-demand.zip"
    packages: Sequence[str]  # the top-level modules it holds, sorted


class Manifest(TypedDict):
    targets: Mapping[str, Target]  # by target key, "cp311-manylinux_x86_64"
    sources: Sources
    # By bytecode tree ("cp311"): its packages imported on demand.
    on_demand: Mapping[str, OnDemand]
    supports: str  # what an unsupported interpreter is told the file runs on


def module_source(manifest: Manifest) -> bytes:
    """The source of the `gitops_pyz_manifest` module: the manifest as a Python literal."""
    return (
        "# Written by build_pyz (see build_pyz/manifest.py): read by pyz_boot.\n"
        f"MANIFEST = {manifest!r}\n"
    ).encode()
