"""The single-file zipapp dist/gitops.pyz: build, run under each Python, cache, archive content.

The file is built once per session (about a second on a warm wheel cache; the first build
on a machine downloads the pinned wheels). Set GITOPS_PYZ to a prebuilt file to test that
one instead. `pyz_interpreters()` lists the CPythons >= 3.11 found here, for other suites
that want to run the file under each of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_pyz.manifest import MODULE, Manifest, NativeFile, NativeSet, Sources, Target
from gitops_compose import __version__

from .pyz_build import ROOT, Interpreter, build, old_interpreters, pyz_interpreters

# Select or skip these with `-m pyz` / `-m "not pyz"`.
pytestmark = pytest.mark.pyz

VERSIONS = ("3.11", "3.12", "3.13", "3.14")
PLATFORMS = ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64", "musllinux_aarch64")
NATIVE_MODULES = {"_cffi_backend", "pygit2._pygit2", "pygit2._libgit2"}
SHARED_LIBRARIES = ("libgit2-", "libssl-", "libcrypto-", "libssh2-")


def run_pyz(
    pyz: Path,
    *args: str,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the file; `env` is added to this process's environment, minus `unset`."""
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [python, str(pyz), *args],
        env=environment | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A native cache shared by the tests that do not test the cache itself."""
    return tmp_path_factory.mktemp("native-cache")


@pytest.fixture(scope="session")
def archive(pyz: Path) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(pyz) as opened:
        yield opened


def manifest(archive: zipfile.ZipFile) -> Manifest:
    """The manifest as the build wrote it for people to read (JSON)."""
    loaded: Manifest = json.loads(archive.read("native/manifest.json"))
    return loaded


# --- runs under each interpreter -------------------------------------------------------


@pytest.mark.parametrize("interpreter", pyz_interpreters(), ids=lambda i: i.label)
def test_version_under_each_supported_python(
    pyz: Path, cache_dir: Path, interpreter: Interpreter
) -> None:
    result = run_pyz(
        pyz, "--version", python=interpreter.executable, env={"GITOPS_CACHE_DIR": str(cache_dir)}
    )
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


@pytest.mark.parametrize("interpreter", pyz_interpreters(), ids=lambda i: i.label)
def test_help_under_each_supported_python(
    pyz: Path, cache_dir: Path, interpreter: Interpreter
) -> None:
    result = run_pyz(
        pyz, "--help", python=interpreter.executable, env={"GITOPS_CACHE_DIR": str(cache_dir)}
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("interpreter", pyz_interpreters(), ids=lambda i: i.label)
def test_selftest_imports_everything_from_the_archive(
    pyz: Path, cache_dir: Path, interpreter: Interpreter
) -> None:
    env = {"GITOPS_CACHE_DIR": str(cache_dir), "GITOPS_PYZ_SELFTEST": "1"}
    result = run_pyz(pyz, python=interpreter.executable, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("selftest ok")
    if not os.environ.get("GITOPS_PYZ"):
        # Built on this machine, so every version found here has its own bytecode tree.
        major, minor = interpreter.version
        assert f"bytecode=cp{major}{minor}" in result.stdout
    assert "libyaml=False" in result.stdout  # the pure loader: the C extension is not bundled
    assert str(cache_dir) in result.stdout


def test_sources_run_unpacked_for_versions_without_bytecode(pyz: Path, tmp_path: Path) -> None:
    """What CPython 3.14 runs when no 3.14 interpreter was on the build machine."""
    env = {"GITOPS_CACHE_DIR": str(tmp_path), "GITOPS_PYZ_SOURCE": "1"}
    unset = ("PYTHONDONTWRITEBYTECODE",)
    selftest = run_pyz(pyz, env=env | {"GITOPS_PYZ_SELFTEST": "1"}, unset=unset)
    assert selftest.returncode == 0, selftest.stderr
    assert "bytecode=src" in selftest.stdout
    (sources,) = tmp_path.glob("sources-*")
    with zipfile.ZipFile(pyz) as archive:
        assert sources.name == manifest(archive)["sources"]["entry"]
    # Compiled once, into the cache: later runs load bytecode like an installed package.
    assert list((sources / "pygit2" / "__pycache__").glob("__init__.*.pyc"))
    version = run_pyz(pyz, "--version", env=env, unset=unset)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    assert len(list(tmp_path.iterdir())) == 2  # the native set and the sources


@pytest.mark.parametrize("interpreter", old_interpreters(), ids=lambda i: i.label)
def test_older_python_is_refused_in_one_line(pyz: Path, interpreter: Interpreter) -> None:
    result = run_pyz(pyz, "--version", python=interpreter.executable)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    found = f"found {'CPython' if interpreter.version >= (3, 0) else 'Python'} "
    assert f"{found}{interpreter.version[0]}.{interpreter.version[1]}." in lines[0]
    assert "supports CPython 3.11, 3.12, 3.13, 3.14 on manylinux_x86_64" in lines[0]


def test_a_3_10_interpreter_was_found_to_check_the_refusal() -> None:
    if not any(i.version == (3, 10) for i in old_interpreters()):
        pytest.skip("no CPython 3.10 on this machine")


# --- the native cache ------------------------------------------------------------------


def test_concurrent_first_runs_share_one_cache_entry(pyz: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "GITOPS_CACHE_DIR": str(cache)}
    command = [sys.executable, str(pyz), "--version"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
        assert __version__ in stdout.decode()
    entries = os.listdir(cache)
    assert len(entries) == 1, entries
    assert entries[0].startswith(f"cp{sys.version_info[0]}{sys.version_info[1]}-")
    leftovers = [p for p in cache.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_later_runs_reuse_the_entry(pyz: Path, tmp_path: Path) -> None:
    env = {"GITOPS_CACHE_DIR": str(tmp_path)}
    assert run_pyz(pyz, "--version", env=env).returncode == 0
    (entry,) = tmp_path.iterdir()
    marker = entry / "marker"
    marker.write_text("left alone")
    assert run_pyz(pyz, "--version", env=env).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]
    assert marker.read_text() == "left alone"


def test_unwritable_cache_home_falls_back_to_a_private_temp_dir(pyz: Path, tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    env = {"XDG_CACHE_HOME": str(not_a_directory), "TMPDIR": str(tmp_path)}
    result = run_pyz(pyz, "--version", env=env, unset=("GITOPS_CACHE_DIR",))
    assert result.returncode == 0, result.stderr
    fallback = tmp_path / f"gitops-compose-{os.getuid()}"
    assert len(list(fallback.iterdir())) == 1
    assert fallback.stat().st_mode & 0o777 == 0o700


@pytest.fixture
def noexec_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted noexec, if this machine lets us mount one (root, no seccomp veto)."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mountpoint = tmp_path / "noexec"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "noexec,size=64m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a noexec tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)


def test_noexec_cache_is_refused_in_one_line(pyz: Path, noexec_dir: Path) -> None:
    # Checking a repository loads pygit2 (--version alone answers without it).
    result = run_pyz(pyz, "status", "--repo", str(ROOT), env={"GITOPS_CACHE_DIR": str(noexec_dir)})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "noexec" in lines[0]
    assert "GITOPS_CACHE_DIR" in lines[0]
    assert list(noexec_dir.iterdir()) == []  # refused before unpacking anything


def test_entry_on_a_noexec_mount_is_refused_when_loading(
    pyz: Path, noexec_dir: Path, tmp_path: Path
) -> None:
    """The entry exists (fast path, no statvfs), but the kernel will not map it."""
    first = run_pyz(pyz, "--version", env={"GITOPS_CACHE_DIR": str(tmp_path / "ok")})
    assert first.returncode == 0, first.stderr
    (entry,) = (tmp_path / "ok").iterdir()
    shutil.copytree(entry, noexec_dir / entry.name, symlinks=True)
    # Checking a repository loads pygit2 (--version alone answers without it).
    result = run_pyz(pyz, "status", "--repo", str(ROOT), env={"GITOPS_CACHE_DIR": str(noexec_dir)})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "noexec" in lines[0]
    assert "GITOPS_CACHE_DIR" in lines[0]


# --- the manifest: what the build tells the bootstrap -----------------------------------


def read_by_first_stage(archive: zipfile.ZipFile, pyz: Path) -> tuple[Manifest, str]:
    """The manifest and tree that the archive's own __main__.py reads, as it reads them."""
    first_stage: dict[str, Any] = {"__name__": "gitops_pyz_first_stage"}  # not "__main__"
    exec(compile(archive.read("__main__.py"), "__main__.py", "exec"), first_stage)
    assert first_stage["_MANIFEST_MODULE"] == MODULE  # the module the build writes
    read: tuple[Manifest, str] = first_stage["_read_manifest"](str(pyz))
    return read


def test_the_bootstrap_reads_the_manifest_the_build_wrote(
    archive: zipfile.ZipFile, pyz: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = manifest(archive)
    read, tree = read_by_first_stage(archive, pyz)
    assert read == written
    if not os.environ.get("GITOPS_PYZ"):
        # Built here, with this interpreter: its bytecode tree holds the manifest it read.
        assert tree == f"cp{sys.version_info[0]}{sys.version_info[1]}"
        # No build facts are written into the first stage any more: it is stored as is.
        assert archive.read("__main__.py") == (ROOT / "pyz_boot" / "main.py").read_bytes()
    monkeypatch.setenv("GITOPS_PYZ_SOURCE", "1")  # a version without bytecode: lib/boot
    assert read_by_first_stage(archive, pyz) == (written, "src")

    # Named fields, each level exactly the fields of its type.
    assert set(read) == Manifest.__required_keys__
    assert set(read["sources"]) == Sources.__required_keys__
    for target in read["targets"].values():
        assert set(target) == Target.__required_keys__
        assert set(target["native"]) == NativeSet.__required_keys__
        assert all(set(file) == NativeFile.__required_keys__ for file in target["native"]["files"])

    # The values the bootstrap acts on.
    names = set(archive.namelist())
    for key, target in read["targets"].items():
        native = target["native"]
        assert native["entry"].startswith(f"{key}-")
        paths = [file["path"] for file in native["files"]]
        assert paths == sorted(paths)
        assert all(file["member"] in names and file["mode"] == 0o755 for file in native["files"])
        assert set(native["modules"].values()) <= set(paths)
        if "musllinux" in key:
            assert target["oldest_libc"] == "1.2"
        else:
            major, minor = map(int, target["oldest_libc"].split("."))
            assert (2, 17) <= (major, minor) <= (2, 28)  # runs on glibc 2.28 hosts
    sources = archive.read(read["sources"]["member"])
    assert read["sources"]["member"] == "lib/sources.zip"
    assert read["sources"]["entry"] == f"sources-{hashlib.sha256(sources).hexdigest()[:16]}"
    assert read["supports"].startswith("CPython 3.11, 3.12, 3.13, 3.14 on manylinux_x86_64")

    # The second stage unpacks this interpreter's set into the entry the manifest names.
    monkeypatch.delenv("GITOPS_PYZ_SOURCE")
    env = {"GITOPS_CACHE_DIR": str(cache_dir), "GITOPS_PYZ_SELFTEST": "1"}
    result = run_pyz(pyz, env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.split()[2]
    assert f"natives={cache_dir / read['targets'][key]['native']['entry']}" in result.stdout


def test_a_tree_of_another_bytecode_format_runs_the_sources(pyz: Path, tmp_path: Path) -> None:
    """As after a release that changed the bytecode format: the tree's .pyc files do not load."""
    tree = f"lib/cp{sys.version_info[0]}{sys.version_info[1]}/"
    altered = tmp_path / "gitops.pyz"
    # Its own reader: writestr() updates the ZipInfo it is given.
    with zipfile.ZipFile(pyz) as archive, zipfile.ZipFile(altered, "w") as out:
        if not any(name.startswith(tree) for name in archive.namelist()):
            pytest.skip(f"the file under test has no {tree} tree")
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == f"{tree}gitops_pyz_manifest.pyc":
                data = bytes([data[0] ^ 0xFF]) + data[1:]  # another magic number
            out.writestr(info, data)
    env = {"GITOPS_CACHE_DIR": str(tmp_path / "cache"), "GITOPS_PYZ_SELFTEST": "1"}
    result = run_pyz(altered, env=env, unset=("PYTHONDONTWRITEBYTECODE",))
    assert result.returncode == 0, result.stderr
    assert "bytecode=src" in result.stdout


# --- archive content -------------------------------------------------------------------


def test_archive_has_native_sets_for_every_promised_target(archive: zipfile.ZipFile) -> None:
    targets = manifest(archive)["targets"]
    expected = {f"cp{v.replace('.', '')}-{p}" for v in VERSIONS for p in PLATFORMS}
    assert set(targets) == expected
    names = set(archive.namelist())
    for key, target in targets.items():
        tag, platform = key.split("-", 1)
        arch = platform.split("_", 1)[1]
        modules = target["native"]["modules"]
        assert set(modules) == NATIVE_MODULES
        assert f"cpython-{tag[2:]}-{arch}" in modules["pygit2._pygit2"]
        files = target["native"]["files"]
        assert all(file["member"] in names for file in files)
        assert any("libgit2-" in file["path"] for file in files)


def test_identical_native_files_are_stored_once(archive: zipfile.ZipFile) -> None:
    natives = [i for i in archive.infolist() if re.match(r"native/[0-9a-f]+/", i.filename)]
    for library in SHARED_LIBRARIES:
        stored = [i for i in natives if i.filename.rsplit("/", 1)[1].startswith(library)]
        # One per platform (glibc and musl builds differ, and so do the architectures),
        # though each is used by four Python versions.
        assert len(stored) == len(PLATFORMS), [i.filename for i in stored]
    digests = [hashlib.sha256(archive.read(i)).hexdigest() for i in natives]
    assert len(digests) == len(set(digests))
    targets = manifest(archive)["targets"].values()
    referenced = {file["member"] for target in targets for file in target["native"]["files"]}
    assert referenced == {i.filename for i in natives}


def test_archive_is_a_clean_zip(archive: zipfile.ZipFile, pyz: Path) -> None:
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == sorted(names)
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    # Only gitops_compose's modules, no tests, and no __pycache__ anywhere.
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n]
    assert "lib/cp311/gitops_compose/__main__.pyc" in names or os.environ.get("GITOPS_PYZ")
    assert {"lib/boot/gitops_pyz_boot.py", "lib/boot/gitops_pyz_manifest.py"} <= set(names)
    with zipfile.ZipFile(io.BytesIO(archive.read("lib/sources.zip"))) as sources:
        assert sources.testzip() is None
        assert "gitops_compose/__main__.py" in sources.namelist()
        # Modules as sources, and the data files packages read beside them.
        assert not [n for n in sources.namelist() if n.endswith((".pyc", ".so", ".pyi"))]
        assert "certifi/cacert.pem" in sources.namelist()
    # The packages only notifications import are a nested zip for each tree (see
    # build_pyz/manifest.OnDemand): the central directory parsed on every start lists a
    # third of the entries it would, and nothing of them.
    for tag, on_demand in manifest(archive)["on_demand"].items():
        assert on_demand["member"] == f"lib/{tag}-on-demand.zip"
        packed = (f"lib/{tag}/apprise/", f"lib/{tag}/certifi/")
        assert not [n for n in names if n.startswith(packed)]
        with zipfile.ZipFile(io.BytesIO(archive.read(on_demand["member"]))) as nested:
            assert nested.testzip() is None
            assert {"apprise/__init__.pyc", "certifi/cacert.pem"} <= set(nested.namelist())
            assert {n.split("/")[0] for n in nested.namelist()} == set(on_demand["packages"])
    assert "cp311" in manifest(archive)["on_demand"] or os.environ.get("GITOPS_PYZ")
    assert len(names) < 1200


def test_two_builds_give_the_same_bytes(tmp_path: Path) -> None:
    """A cold build (empty bytecode and digest caches) and a warm one agree byte for byte."""
    cold = build(tmp_path / "cold.pyz", "--build-cache", str(tmp_path / "build-cache"))
    warm = build(tmp_path / "warm.pyz")
    assert cold.read_bytes() == warm.read_bytes()


def test_a_notification_is_delivered_from_the_archive(
    pyz: Path,
    cache_dir: Path,
    archive: zipfile.ZipFile,
    json_receiver: tuple[str, list[bytes]],
) -> None:
    """Apprise lists its plugins from its folders; inside the zip they must still be found."""
    url, bodies = json_receiver
    done = subprocess.run(
        [sys.executable, str(pyz), "notify-test", "--notify", url, "--name", "pyz-host"],
        env={**os.environ, "GITOPS_CACHE_DIR": str(cache_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(bodies) == 1
    assert "pyz-host" in json.loads(bodies[0])["message"]
    # Apprise and what it needs came from their nested zip, unpacked into the cache.
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    if tag in manifest(archive)["on_demand"]:
        entry = manifest(archive)["on_demand"][tag]["entry"]
        assert (cache_dir / entry / "packages.zip").is_file()


def test_a_check_unpacks_no_package_on_demand(pyz: Path, tmp_path: Path) -> None:
    """Only notifications import them: a run that sends none leaves their zip packed."""
    env = {"GITOPS_CACHE_DIR": str(tmp_path)}
    assert run_pyz(pyz, "--version", env=env).returncode == 0
    done = run_pyz(pyz, "--once", "--repo", str(tmp_path / "no-clone"), env=env)
    assert done.returncode == 2, done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("on-demand-")] == []
