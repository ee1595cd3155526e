#!/usr/bin/env python3
"""Build dist/gitops.pyz, the one file users copy to a Docker host and run with CPython >= 3.11.

Why a bootstrap of our own and not shiv: shiv unpacks the whole site-packages of one
platform into ~/.shiv on first run and runs from there. This file must carry the native
parts of pygit2 and cffi for four CPython versions on several platforms, store the
libraries they share only once, unpack only the running interpreter's set, and otherwise
run straight from the zip with bytecode for each Python version. shiv does none of that,
and an old interpreter would meet its bootstrap as a SyntaxError traceback. The two small
files in pyz_boot/ do all of it, and building needs nothing beyond the standard library
and pip.

Layout of the archive (entries sorted, timestamps fixed at 1980-01-01, modes fixed):

    __main__.py            pyz_boot/main.py with the build facts filled in; any CPython from
                           2.7 on can parse it, so an old one gets the one-line refusal
    lib/cp311/ ...         sourceless bytecode trees: a legacy `foo.pyc` where `foo.py` would
    lib/cp312/ ...         be, the only form of bytecode that zipimport loads
    lib/boot/              the bootstrap's sources, and
    lib/sources.zip        every other module's, for a supported version that had no
                           interpreter on the build machine (see below)
    native/<sha>/<name>    every native file once, named by content hash: the bundled libgit2,
                           OpenSSL, libssh2 and PCRE are byte-identical across Python versions
    native/manifest.json   which files each target unpacks (also compiled into
                           lib/*/gitops_pyz_manifest, which the bootstrap reads)
    licenses/              the licence files of every bundled distribution

Bytecode per Python version: a .pyc loads only on the minor version that wrote it, and
zipimport neither reads __pycache__ nor writes anything, so each supported version gets its
own sourceless tree, compiled by that version's interpreter if the build machine has one
(pyenv, PATH, or $GITOPS_PYZ_PYTHONS). A version without one runs the bootstrap from
lib/boot, and its first run unpacks lib/sources.zip next to the native files in the cache,
where the interpreter compiles each module once into __pycache__: from the zip it would
recompile all of them on every run (twice the start time). The sources are one nested
member rather than a tree so that they do not lengthen the central directory, which
zipimport parses on every start (~10 us per entry).

The bytecode is deterministic: py_compile with UNCHECKED_HASH (no mtime inside) under
PYTHONHASHSEED=0 (set and frozenset constants are ordered by string hash). Two builds from
the same tree with the same interpreters give the same bytes; a machine with other
interpreters (or none for a version), or another zlib (it deflates the small members),
gives other bytes.

Native files at run time: the first run of each Python version unpacks that target's set
(~15 MB) into $GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/gitops-compose, else
~/.cache/gitops-compose, else $TMPDIR/gitops-compose-<uid> (private, checked) when home is
not usable, under a name made of the target and a hash of the set's content. It writes a
temp dir beside that name and renames it into place, so concurrent first runs never see a
partial entry and the losers delete their temp dirs; later runs need one stat. The cache
root must not be on a noexec mount (statvfs is checked before unpacking, and a library
the kernel refuses to map is reported too): either is one line naming GITOPS_CACHE_DIR,
exit 2, as is an unsupported interpreter or platform. Deleting the cache is always safe;
entries of older builds are not pruned.

The bytecode trees are stored uncompressed: inflating them cost about 5% of the start
time, for 3.5 MB less file. Everything else is deflated.

Runtime dependencies: pygit2 loads libgit2 through a cffi module compiled in API mode
(pygit2/_libgit2.abi3.so), which needs only the `_cffi_backend` extension at run time: the
`cffi` Python package (its C parser front end) and pycparser are build-time only and not
bundled. PyYAML's optional C extension is left out too: the pure loader is enough.

Wheels come from PyPI, pinned with hashes in requirements/pyz.txt (`--lock` refreshes the
hashes after a version change), and are cached in .cache/wheels. Native files are copied
into the archive in the compressed form the wheel has them (no recompression), and
bytecode is cached per interpreter and source hash in .cache/pyz-build, so a warm build
takes a few seconds and does not touch the network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent
LOCK = ROOT / "requirements" / "pyz.txt"
WHEEL_CACHE = ROOT / ".cache" / "wheels"
BUILD_CACHE = ROOT / ".cache" / "pyz-build"
OUTPUT = ROOT / "dist" / "gitops.pyz"
BOOT_DIR = ROOT / "pyz_boot"
PACKAGE = "gitops_compose"

PYTHON_VERSIONS = ((3, 11), (3, 12), (3, 13), (3, 14))
# Distributions whose compiled parts are bundled; every other pinned one is pure Python.
NATIVE_DISTS = ("pygit2", "cffi")
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
)
SHEBANG = b"#!/usr/bin/env python3\n"
SOURCES_MEMBER = "lib/sources.zip"
DEFLATE_LEVEL = 6
# Compiles the files named on stdin inside the target interpreter. Tracebacks then read
# "gitops.pyz/<module path>" whichever machine built the file.
COMPILE_SCRIPT = """
import pathlib, py_compile, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for rel in sys.stdin.read().split():
    target = out / (rel + "c")
    target.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(str(src / rel), str(target), dfile="gitops.pyz/" + rel, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


# --- targets ---------------------------------------------------------------------------


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


# --- lock file -------------------------------------------------------------------------


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
        "# Wheels bundled into dist/gitops.pyz, for every target in build_zipapp.TARGETS.",
        "# Written by `python build_zipapp.py --lock` (edit a version, then rerun it).",
        "# Usable as is with `pip download --require-hashes --no-deps --only-binary=:all:`.",
    ]
    for pin in sorted(pins):
        digests = [f"    --hash=sha256:{digest}" for digest in sorted(pin.hashes)]
        lines.append(" \\\n".join([f"{pin.spelling}=={pin.version}", *digests]))
    path.write_text("\n".join(lines) + "\n")


# --- wheels ----------------------------------------------------------------------------


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


# --- zip entries -----------------------------------------------------------------------


class Entry(NamedTuple):
    """One archive member as it will be stored."""

    method: int  # zipfile.ZIP_STORED or zipfile.ZIP_DEFLATED
    crc: int
    size: int  # uncompressed
    payload: bytes  # the stored bytes (compressed when method is DEFLATED)
    mode: int


def deflated(data: bytes, mode: int = 0o644) -> Entry:
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)  # raw deflate, as in zip
    payload = compressor.compress(data) + compressor.flush()
    return Entry(zipfile.ZIP_DEFLATED, zlib.crc32(data), len(data), payload, mode)


def stored(data: bytes, mode: int = 0o644) -> Entry:
    return Entry(zipfile.ZIP_STORED, zlib.crc32(data), len(data), data, mode)


def deflate_all(files: Mapping[str, bytes], mode: int = 0o644) -> dict[str, Entry]:
    # zlib releases the GIL, so threads use every core.
    with ThreadPoolExecutor() as pool:
        entries = pool.map(lambda data: deflated(data, mode), files.values())
        return dict(zip(files, entries, strict=True))


def raw_entry(stream: zipfile.ZipFile, info: zipfile.ZipInfo, mode: int) -> Entry:
    """Copy a wheel member still compressed: no inflate and deflate for 60 MB of libraries."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return deflated(stream.read(info), mode)
    fp = stream.fp
    assert fp is not None
    fp.seek(info.header_offset)
    header = fp.read(30)
    if header[:4] != b"PK\x03\x04":
        raise SystemExit(f"{stream.filename}: bad local header for {info.filename}")
    name_length, extra_length = struct.unpack("<2H", header[26:30])
    fp.seek(info.header_offset + 30 + name_length + extra_length)
    payload = fp.read(info.compress_size)
    return Entry(info.compress_type, info.CRC, info.file_size, payload, mode)


def zip_bytes(entries: Mapping[str, Entry], prefix: bytes = b"") -> bytes:
    """A byte-for-byte reproducible zip: sorted names, one fixed time, fixed modes.

    Written by hand rather than with zipfile so that members can be copied still
    compressed from the wheels. Offsets are absolute, so a prefix (the shebang line) is
    part of the file as far as every zip reader, zipimport included, is concerned.
    """
    out = bytearray(prefix)
    central = bytearray()
    time, date = 0, (0 << 9) | (1 << 5) | 1  # DOS time: 1980-01-01 00:00:00
    for name in sorted(entries):
        entry, raw = entries[name], name.encode()
        flags = 0 if raw.isascii() else 0x800  # bit 11: the name is UTF-8
        common = (entry.method, time, date, entry.crc, len(entry.payload), entry.size)
        offset = len(out)
        out += struct.pack("<4s2H3H3L2H", b"PK\x03\x04", 20, flags, *common, len(raw), 0)
        out += raw + entry.payload
        attributes = (0o100000 | entry.mode) << 16  # regular file with its Unix mode
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, flags, *common,
            len(raw), 0, 0, 0, 0, attributes, offset,
        )  # fmt: skip
        central += raw
    if len(entries) > 0xFFFF or len(out) + len(central) > 0xFFFFFFFF:
        raise SystemExit("the archive would need zip64, which this writer does not do")
    footer = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0
    )
    return bytes(out + central + footer)


# --- archive content -------------------------------------------------------------------


def members(wheel: Path) -> Iterator[tuple[zipfile.ZipInfo, zipfile.ZipFile]]:
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info, archive


def is_shared_object(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


def pure_sources(wheels: Wheels) -> dict[str, bytes]:
    """The run-time .py files of every bundled distribution, by path inside a tree."""
    sources = {}
    for dist, wheel in sorted(wheels.items()):
        if dist == "cffi":
            continue  # only its _cffi_backend extension runs, see the docstring
        for info, archive in members(wheel):
            name = info.filename
            if name.split("/", 1)[0].endswith((".dist-info", ".data")):
                continue
            wanted = name not in EXCLUDED_FILES and not name.startswith(EXCLUDED_DIRS)
            if name.endswith(".py") and wanted:
                sources[name] = archive.read(info)
    return sources


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


def license_files(wheels: Wheels) -> dict[str, bytes]:
    files = {}
    for wheel in sorted(wheels.values()):
        for info, archive in members(wheel):
            top, _, rest = info.filename.partition("/")
            if top.endswith(".dist-info") and rest.startswith("licenses/"):
                name = f"licenses/{top.removesuffix('.dist-info')}/{rest.removeprefix('licenses/')}"
                files[name] = archive.read(info)
    return files


class NativeSet(NamedTuple):
    entry: str  # cache directory name: target key plus a hash of the content
    files: tuple[tuple[str, str, int], ...]  # (path in the entry, archive member, mode)
    modules: dict[str, str]  # extension module name -> path in the entry


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
        self.objects: dict[str, Entry] = {}
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
        files = []
        for dist in NATIVE_DISTS:
            digests = self.content_digests(wheels[dist])
            for info, archive in members(wheels[dist]):
                digest = digests.get(info.filename)
                if digest is None:
                    continue
                if digest not in self.names:
                    base = info.filename.rsplit("/", 1)[-1]
                    self.names[digest] = f"native/{digest[:16]}/{base}"
                    self.objects[self.names[digest]] = raw_entry(archive, info, 0o755)
                files.append((info.filename, self.names[digest], 0o755))
        files.sort()
        content = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
        modules = {m: rel for rel, _, _ in files if (m := module_name(rel)) is not None}
        return NativeSet(f"{target.key}-{content}", tuple(files), modules)


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


def project_sources() -> dict[str, bytes]:
    """gitops_compose's own modules from the working tree, without tests."""
    sources = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        if "tests" in path.parts or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        sources[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    return sources


def manifest_module(sets: Mapping[str, NativeSet], sources_zip: bytes) -> bytes:
    """What the bootstrap unpacks: native files per target, and the sources for fallback."""
    table = {key: (s.entry, s.files, s.modules) for key, s in sorted(sets.items())}
    sources = (f"sources-{hashlib.sha256(sources_zip).hexdigest()[:16]}", SOURCES_MEMBER)
    return (
        "# Generated by build_zipapp.py: what the bootstrap unpacks into the cache.\n"
        f"TARGETS = {table!r}\n"
        f"SOURCES = {sources!r}\n"
    ).encode()


def main_module(
    sets: Mapping[str, NativeSet], floors: Mapping[str, str], bytecode: Mapping[str, str]
) -> bytes:
    """pyz_boot/main.py with its `# @build@` line replaced by this build's facts."""
    versions = ", ".join(f"{major}.{minor}" for major, minor in PYTHON_VERSIONS)
    libc_names = {"manylinux": "glibc", "musllinux": "musl"}
    platforms = ", ".join(f"{p.name} ({libc_names[p.libc]} >= {floors[p.name]})" for p in PLATFORMS)
    build = {
        "targets": {key: floors[key.split("-", 1)[1]] for key in sorted(sets)},
        "bytecode": dict(sorted(bytecode.items())),
        "supports": f"CPython {versions} on {platforms}",
    }
    lines = (BOOT_DIR / "main.py").read_text().splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if line.rstrip().endswith("# @build@")]
    if len(marked) != 1:
        raise SystemExit("pyz_boot/main.py must have exactly one line marked '# @build@'")
    lines[marked[0]] = f"BUILD = {build!r}\n"
    return "".join(lines).encode()


# --- bytecode --------------------------------------------------------------------------


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


class CompileJob(NamedTuple):
    tag: str
    process: subprocess.Popen[bytes]
    out: Path  # where the interpreter writes, beside the cache
    cache: Path
    todo: list[str]


class BytecodeCompiler:
    """Compiles sources with each interpreter, caching .pyc files by interpreter and source.

    Each file's bytecode depends only on its own source (checked: compiling in another
    order gives the same bytes), so a cached file equals a fresh one.
    """

    def __init__(self, build_cache: Path) -> None:
        self.directory = build_cache / "bytecode"

    def cache_dir(self, executable: str) -> Path:
        real = Path(executable).resolve()
        stat = real.stat()
        identity = f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\0{COMPILE_SCRIPT}"
        return self.directory / hashlib.sha256(identity.encode()).hexdigest()[:24]

    @staticmethod
    def cached(cache: Path, rel: str, source: bytes) -> Path:
        return cache / (hashlib.sha256(rel.encode() + b"\0" + source).hexdigest() + ".pyc")

    def compile(
        self, sources: Mapping[str, bytes], interpreters: Mapping[tuple[int, int], str]
    ) -> dict[str, dict[str, bytes]]:
        """Return tag -> {path.pyc: bytecode}; the interpreters run side by side."""
        jobs = []
        with tempfile.TemporaryDirectory(prefix="gitops-pyz-") as scratch:
            src = Path(scratch) / "src"
            for rel, data in sources.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_bytes(data)
            for (major, minor), executable in sorted(interpreters.items()):
                cache = self.cache_dir(executable)
                todo = [r for r, d in sources.items() if not self.cached(cache, r, d).is_file()]
                if todo:
                    jobs.append(self.start(f"cp{major}{minor}", executable, src, cache, todo))
            for job in jobs:
                self.finish(job, sources)
        trees = {}
        for (major, minor), executable in sorted(interpreters.items()):
            cache = self.cache_dir(executable)
            trees[f"cp{major}{minor}"] = {
                rel + "c": self.cached(cache, rel, data).read_bytes()
                for rel, data in sorted(sources.items())
            }
        return trees

    @staticmethod
    def start(tag: str, executable: str, src: Path, cache: Path, todo: list[str]) -> CompileJob:
        out = cache.parent / f".tmp-{cache.name}-{os.getpid()}"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        command = [executable, "-I", "-c", COMPILE_SCRIPT, str(src), str(out)]
        process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE)
        assert process.stdin is not None
        process.stdin.write("\n".join(todo).encode())
        process.stdin.close()
        return CompileJob(tag, process, out, cache, todo)

    def finish(self, job: CompileJob, sources: Mapping[str, bytes]) -> None:
        """Wait for one interpreter and move its fresh .pyc files into the cache."""
        try:
            if job.process.wait() != 0:
                raise SystemExit(f"compiling the {job.tag} bytecode tree failed")
            job.cache.mkdir(parents=True, exist_ok=True)
            for rel in job.todo:
                (job.out / (rel + "c")).replace(self.cached(job.cache, rel, sources[rel]))
        finally:
            shutil.rmtree(job.out, ignore_errors=True)


# --- build -----------------------------------------------------------------------------


def build(output: Path, cache: WheelCache, build_cache: Path) -> None:
    chosen = resolve_wheels(cache, read_lock(LOCK))
    check_pure_python_identical(chosen)
    reference = chosen[TARGETS[0]]

    natives = NativeCollector(cache, build_cache)
    sets = {target.key: natives.collect(target, chosen[target]) for target in TARGETS}
    floors = {p.name: oldest_libc(chosen[Target(PYTHON_VERSIONS[0], p)], p) for p in PLATFORMS}

    program = pure_sources(reference) | project_sources()
    sources_zip = zip_bytes(deflate_all(program))
    boot = {
        "gitops_pyz_boot.py": (BOOT_DIR / "gitops_pyz_boot.py").read_bytes(),
        "gitops_pyz_manifest.py": manifest_module(sets, sources_zip),
    }
    interpreters = find_interpreters()
    trees = BytecodeCompiler(build_cache).compile(program | boot, interpreters)

    plain = license_files(reference)
    # Each tree with the magic number of its compiler (the first 4 bytes of any .pyc).
    magic = {tag: tree["gitops_pyz_boot.pyc"][:4].hex() for tag, tree in trees.items()}
    plain["__main__.py"] = main_module(sets, floors, magic)
    listing = {key: s._asdict() for key, s in sorted(sets.items())}
    plain["native/manifest.json"] = json.dumps(listing, indent=1, sort_keys=True).encode() + b"\n"
    plain.update({f"lib/boot/{rel}": data for rel, data in boot.items()})
    entries = natives.objects | deflate_all(plain)
    # Bytecode is stored uncompressed: inflating it cost about 5% of the start time, for
    # 3.5 MB less file. sources.zip is stored because its members are compressed already.
    for tag, tree in trees.items():
        entries.update({f"lib/{tag}/{rel}": stored(data) for rel, data in tree.items()})
    entries[SOURCES_MEMBER] = stored(sources_zip)

    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.tmp")
    temp.write_bytes(zip_bytes(entries, SHEBANG))
    temp.chmod(0o755)
    temp.replace(output)
    report(output, interpreters, len(entries))


def report(output: Path, interpreters: Mapping[tuple[int, int], str], count: int) -> None:
    for (major, minor), executable in sorted(interpreters.items()):
        print(f"bytecode cp{major}{minor}: compiled by {executable}")
    missing = [f"{v[0]}.{v[1]}" for v in PYTHON_VERSIONS if v not in interpreters]
    if missing:
        print(f"no interpreter for {', '.join(missing)} here: it runs lib/sources.zip, unpacked")
    size = output.stat().st_size
    print(f"wrote {output}: {size:,} bytes ({size / 2**20:.1f} MiB), {count} entries")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    default = "default: %(default)s"
    parser.add_argument("--output", type=Path, default=OUTPUT, help=default)
    parser.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE, help=default)
    parser.add_argument("--build-cache", type=Path, default=BUILD_CACHE, help=default)
    parser.add_argument("--lock", action="store_true", help=f"rewrite the hashes in {LOCK.name}")
    args = parser.parse_args(argv)
    cache = WheelCache(args.wheel_cache)
    if args.lock:
        relock(cache, read_lock(LOCK))
    else:
        build(args.output.resolve(), cache, args.build_cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
