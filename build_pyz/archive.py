"""What goes where in gitops.pyz, and the build that writes it (layout: build_pyz's docstring)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from . import ROOT
from .bytecode import BytecodeCompiler
from .interpreters import find_interpreters
from .licenses import license_files
from .lock import LOCK, read_lock
from .manifest import MODULE, Manifest, OnDemand, Sources, module_source
from .manifest import Target as TargetFacts
from .native import NativeCollector, oldest_libc
from .sources import check_pure_python_identical, package_data, project_sources, pure_sources
from .targets import PLATFORMS, PYTHON_VERSIONS, TARGETS, Target
from .wheels import WheelCache, resolve_wheels
from .zip_writer import Entry, deflate_all, stored, zip_bytes

BUILD_CACHE = ROOT / ".cache" / "pyz-build"
OUTPUT = ROOT / "dist" / "gitops.pyz"
BOOT_DIR = ROOT / "pyz_boot"
SHEBANG = b"#!/usr/bin/env python3\n"
SOURCES_MEMBER = "lib/sources.zip"
LISTING_MEMBER = "native/manifest.json"
# The top-level modules only notifications import: Apprise and its dependencies. Each
# bytecode tree holds them in a nested zip of its own (see manifest.OnDemand), so that
# the archive's central directory, which zipimport parses on every start, lists a third
# of the entries it would. tests/shell/test_features.py pins that a check imports none.
ON_DEMAND = (
    "apprise",
    "certifi",
    "charset_normalizer",
    "click",
    "idna",
    "markdown",
    "oauthlib",
    "requests",
    "requests_oauthlib",
    "urllib3",
)


def top_level(path: str) -> str:
    """The top-level module a file of a tree or of the sources belongs to."""
    return path.split("/", 1)[0].removesuffix(".pyc").removesuffix(".py")


def on_demand(path: str) -> bool:
    """Whether a file of a bytecode tree belongs in its nested zip of packages on demand."""
    return top_level(path) in ON_DEMAND


def supports(floors: Mapping[str, str]) -> str:
    """The human summary an unsupported interpreter is given: versions, platforms, libcs."""
    versions = ", ".join(f"{major}.{minor}" for major, minor in PYTHON_VERSIONS)
    libc_names = {"manylinux": "glibc", "musllinux": "musl"}
    platforms = ", ".join(f"{p.name} ({libc_names[p.libc]} >= {floors[p.name]})" for p in PLATFORMS)
    return f"CPython {versions} on {platforms}"


def build(output: Path, cache: WheelCache, build_cache: Path) -> None:
    chosen = resolve_wheels(cache, read_lock(LOCK))
    check_pure_python_identical(chosen)
    reference = chosen[TARGETS[0]]

    natives = NativeCollector(cache, build_cache)
    sets = {target: natives.collect(target, chosen[target]) for target in TARGETS}
    floors = {p.name: oldest_libc(chosen[Target(PYTHON_VERSIONS[0], p)], p) for p in PLATFORMS}

    program = pure_sources(reference) | project_sources()
    data = package_data(reference)
    sources_zip = zip_bytes(deflate_all(program | data))
    interpreters = find_interpreters()
    compiler = BytecodeCompiler(build_cache)
    # Bytecode is stored uncompressed: inflating it cost about 5% of the start time, for
    # 3.5 MB less file. sources.zip is stored because its members are compressed already.
    packed: dict[str, dict[str, Entry]] = {}
    nested: dict[str, bytes] = {}
    for tag, tree in compiler.compile(program, interpreters).items():
        files = {rel: stored(code) for rel, code in tree.items()} | deflate_all(data)
        packed[tag] = {rel: each for rel, each in files.items() if not on_demand(rel)}
        nested[tag] = zip_bytes({rel: each for rel, each in files.items() if on_demand(rel)})
    manifest = Manifest(
        targets={
            target.key: TargetFacts(oldest_libc=floors[target.platform.name], native=native)
            for target, native in sorted(sets.items(), key=lambda item: item[0].key)
        },
        sources=Sources(
            entry=f"sources-{hashlib.sha256(sources_zip).hexdigest()[:16]}", member=SOURCES_MEMBER
        ),
        on_demand={
            tag: OnDemand(
                entry=f"on-demand-{tag}-{hashlib.sha256(zipped).hexdigest()[:16]}",
                member=f"lib/{tag}-on-demand.zip",
                packages=sorted({top_level(rel) for rel in program if on_demand(rel)}),
            )
            for tag, zipped in nested.items()
        },
        supports=supports(floors),
    )
    boot = {
        "gitops_pyz_boot.py": (BOOT_DIR / "gitops_pyz_boot.py").read_bytes(),
        f"{MODULE}.py": module_source(manifest),
    }
    for tag, tree in compiler.compile(boot, interpreters).items():
        packed[tag].update({rel: stored(code) for rel, code in tree.items()})

    plain = license_files(reference)
    plain["__main__.py"] = (BOOT_DIR / "main.py").read_bytes()  # stored as written
    plain[LISTING_MEMBER] = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    plain.update({f"lib/boot/{rel}": data for rel, data in boot.items()})
    entries = natives.objects | deflate_all(plain)
    for tag, files in packed.items():
        entries.update({f"lib/{tag}/{rel}": each for rel, each in files.items()})
        entries[manifest["on_demand"][tag]["member"]] = stored(nested[tag])
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
