"""Second stage of gitops.pyz: make the bundled native modules importable, then run the CLI.

Pure-Python code is imported straight from the archive: the first stage put this Python
version's bytecode tree on sys.path. Compiled extensions cannot be loaded from a zip, so
the set built for the running interpreter is unpacked once into a cache directory named
after a hash of its content, and a meta-path finder maps the extension module names to
those files. Later runs find the directory with a single stat and unpack nothing.

A supported version that got no bytecode tree (no such interpreter on the build machine)
runs the bootstrap from lib/boot/ sources instead, and its first run also unpacks
lib/sources.zip into the cache, so that the interpreter compiles each module once into
__pycache__ there rather than on every run, as it would from the zip.

Importing this module must stay cheap: at the top it only touches modules that the
interpreter has already loaded to run a zip application (os, sys, importlib, zipimport);
everything else is imported where needed, on the slow paths only.
"""

# ruff: noqa: PLC0415  (imports inside functions are the point: see above)

from __future__ import annotations

import os
import stat
import sys
import zipimport
from collections.abc import Callable, Mapping, Sequence
from importlib.machinery import ExtensionFileLoader, ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple, NoReturn

if TYPE_CHECKING:
    from build_pyz.manifest import Manifest, NativeFile, OnDemand

PROG = "gitops.pyz"
CACHE_ENV = "GITOPS_CACHE_DIR"
SELFTEST_ENV = "GITOPS_PYZ_SELFTEST"
# A temp dir older than this was left by a killed first run, not by one still unpacking.
STALE_TEMP_SECONDS = 3600
# dlopen's words when the kernel refuses to map a library as executable (noexec mount).
NOEXEC_SYMPTOMS = ("failed to map segment", "Operation not permitted", "Permission denied")

SOURCE_TREE = "src"  # the first stage's name for "no bytecode tree for this version"


class Unusable(Exception):
    """A cache directory that cannot hold or run the native files; the text says why."""


class Refusal(Exception):
    """A condition the user must fix; printed as one line, exit status 2."""


def main(archive: str, manifest: Manifest, target: str, tree: str) -> None:
    """Run the CLI from `archive`, for the `target` and bytecode `tree` the first stage chose."""
    native = manifest["targets"][target]["native"]
    pure = archive
    try:
        directory = ensure_entry(
            archive, native["entry"], lambda temp: write_files(archive, temp, native["files"])
        )
        if tree == SOURCE_TREE:
            sources = manifest["sources"]
            pure = ensure_entry(
                archive,
                sources["entry"],
                lambda temp: write_sources(archive, sources["member"], temp),
            )
            sys.path.insert(1, pure)
    except Refusal as exc:
        refuse(str(exc))
    sys.meta_path.insert(0, NativeFinder(directory, native["modules"]))
    if tree != SOURCE_TREE:
        # Before the path finder: the bundled packages win over any installed on the host.
        sys.meta_path.insert(1, OnDemandFinder(archive, manifest["on_demand"][tree]))
    if os.environ.get(SELFTEST_ENV):
        raise SystemExit(selftest(pure, directory, target, tree))
    import runpy  # already imported by the interpreter to run the zip: costs nothing

    runpy.run_module("gitops_compose", run_name="__main__", alter_sys=False)


def refuse(message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: {message}\n")
    raise SystemExit(2)


# --- cache directory -------------------------------------------------------------------


class Root(NamedTuple):
    path: str
    shared: bool  # in a directory other users can write to (the temp fallback)


def cache_roots() -> tuple[list[Root], bool]:
    """Candidate cache roots in order of preference, and whether the user chose the root."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return [Root(os.path.abspath(chosen), shared=False)], True
    roots = []
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    home = os.path.expanduser("~")
    if os.path.isabs(xdg):
        roots.append(Root(os.path.join(xdg, "gitops-compose"), shared=False))
    elif os.path.isabs(home):
        roots.append(Root(os.path.join(home, ".cache", "gitops-compose"), shared=False))
    # Last resort when home is missing, read-only or noexec: one directory per user,
    # because it holds code that this user will execute.
    tmp = os.environ.get("TMPDIR", "")
    tmp = tmp if os.path.isabs(tmp) else "/tmp"
    roots.append(Root(os.path.join(tmp, f"gitops-compose-{os.getuid()}"), shared=True))
    return roots, False


def is_own_directory(path: str) -> bool:
    """A directory of this user that nobody else can write to: safe to load code from."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def ensure_entry(archive: str, entry: str, fill: Callable[[str], None]) -> str:
    """Return the cache entry's directory, first creating it with `fill` if needed."""
    roots, chosen = cache_roots()
    for root in roots:
        # Fast path, one stat: entries only ever appear complete (atomic rename).
        if is_own_directory(os.path.join(root.path, entry)):
            return os.path.join(root.path, entry)
    problems = []
    for root in roots:
        try:
            return unpack(root, entry, fill)
        except Unusable as exc:
            problems.append(str(exc))
    where = f"{CACHE_ENV} must name" if chosen else f"set {CACHE_ENV} to"
    raise Refusal(
        f"no usable cache directory for the native libraries: {'; '.join(problems)}; "
        f"{where} a writable directory on a filesystem mounted without noexec"
    )


def prepare_root(root: Root) -> None:
    try:
        os.makedirs(root.path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise Unusable(f"cannot create {root.path} ({exc.strerror})") from exc
    if root.shared and not is_own_directory(root.path):
        # Another user made it first and could plant libraries that we would then load.
        raise Unusable(f"{root.path} is not a directory that only this user can write to")
    if os.statvfs(root.path).f_flag & os.ST_NOEXEC:
        raise Unusable(f"{root.path} is on a noexec mount, where libraries cannot be loaded")


def unpack(root: Root, entry: str, fill: Callable[[str], None]) -> str:
    """Fill a private temp dir beside the entry, then rename it into place.

    The rename is atomic, so a concurrent reader sees no entry or a complete one. When
    several first runs race, the first rename wins; the others find the name taken,
    delete their own temp dir and use the winner's entry (the content is identical).
    """
    prepare_root(root)
    final = os.path.join(root.path, entry)
    remove_stale_temps(root.path)
    temp = os.path.join(root.path, f".tmp-{entry}-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.mkdir(temp, 0o700)
        fill(temp)
        os.rename(temp, final)
    except OSError as exc:
        remove_tree(temp)
        if not os.path.lexists(final):
            raise Unusable(f"cannot unpack into {root.path} ({exc.strerror or exc})") from exc
    if not is_own_directory(final):
        raise Unusable(f"{final} exists but belongs to another user or is writable by others")
    sync_directory(root.path)
    return final  # ours, or the entry of a concurrent run that won the race: same content


def write_files(archive: str, directory: str, files: Sequence[NativeFile]) -> None:
    reader = zipimport.zipimporter(archive)
    for file in files:
        write_file(
            os.path.join(directory, file["path"]), reader.get_data(file["member"]), file["mode"]
        )


def write_sources(archive: str, member: str, directory: str) -> None:
    """Unpack the nested zip of pure-Python sources (slow path of a version without bytecode)."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(zipimport.zipimporter(archive).get_data(member))) as nested:
        for info in nested.infolist():
            write_file(os.path.join(directory, info.filename), nested.read(info), 0o644)


def write_file(path: str, data: bytes, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        # Durable before the rename publishes it: a crash must not leave a
        # complete-looking entry with truncated files in it.
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename still happened
    finally:
        os.close(fd)


def remove_stale_temps(root: str) -> None:
    """Delete temp dirs that a killed first run left behind (never a live one)."""
    import time

    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        path = os.path.join(root, name)
        try:
            age = time.time() - os.lstat(path).st_mtime
            if name.startswith(".tmp-") and age > STALE_TEMP_SECONDS:
                remove_tree(path)
        except OSError:
            continue


def remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --- loading ---------------------------------------------------------------------------


class NativeFinder:
    """Meta-path finder mapping extension module names to files in the cache entry.

    It comes first on sys.meta_path so that a different cffi or pygit2 installed on the
    host can never pair with the bundled one.
    """

    def __init__(self, directory: str, modules: Mapping[str, str]) -> None:
        self.directory = directory
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        relpath = self.modules.get(fullname)
        if relpath is None:
            return None
        location = os.path.join(self.directory, relpath)
        return spec_from_file_location(fullname, location, loader=NativeLoader(fullname, location))

    def invalidate_caches(self) -> None:
        pass


class NativeLoader(ExtensionFileLoader):
    """Extension loader that turns a noexec refusal into the one-line message."""

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        try:
            return super().create_module(spec)
        except ImportError as exc:
            directory, name = os.path.split(self.path)
            if not looks_noexec(str(exc), directory):
                raise
            reason = str(exc).replace(f"{self.path}: ", "")
            refuse(
                f"cannot load {name} from {directory} ({reason}): the cache directory is on a "
                f"noexec mount; set {CACHE_ENV} to a directory on a filesystem mounted "
                "without noexec"
            )


class OnDemandFinder:
    """Meta-path finder that makes the tree's packages on demand importable (see
    build_pyz/manifest.OnDemand) at the first import of one of them: it unpacks their
    nested zip into the cache once and puts it on sys.path, after this version's tree and
    before the standard library, where the path finder then finds them all.

    It answers only its packages' names, and only until the zip is on sys.path: from then
    on the path finder finds them there, before any installed on the host.
    """

    ZIP_NAME = "packages.zip"

    def __init__(self, archive: str, on_demand: OnDemand) -> None:
        self.archive = archive
        self.on_demand = on_demand
        self.packages = frozenset(on_demand["packages"])
        self.path: str | None = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if self.path is not None or fullname.partition(".")[0] not in self.packages:
            return None
        try:
            directory = ensure_entry(self.archive, self.on_demand["entry"], self.unpack)
        except Refusal as exc:
            raise ImportError(f"{fullname}: {exc}", name=fullname) from None
        self.path = os.path.join(directory, self.ZIP_NAME)
        tree = next(i for i, each in enumerate(sys.path) if each.startswith(self.archive + "/"))
        sys.path.insert(tree + 1, self.path)
        return zipimport.zipimporter(self.path).find_spec(fullname)

    def unpack(self, temp: str) -> None:
        data = zipimport.zipimporter(self.archive).get_data(self.on_demand["member"])
        write_file(os.path.join(temp, self.ZIP_NAME), data, 0o644)

    def invalidate_caches(self) -> None:
        pass


def looks_noexec(error: str, directory: str) -> bool:
    try:
        if os.statvfs(directory).f_flag & os.ST_NOEXEC:
            return True
    except OSError:
        pass
    return any(symptom in error for symptom in NOEXEC_SYMPTOMS)


# --- self-check ------------------------------------------------------------------------


def selftest(pure: str, directory: str, target: str, tree: str) -> int:
    """Import every bundled dependency and check each came from where it should.

    `pure` is where pure-Python modules must come from (the archive, or the unpacked
    sources), `directory` the cache entry of the native files.
    """
    import docopt
    import prometheus_client
    import pygit2
    import returns.result
    import typing_extensions
    import yaml

    from_archive = [docopt, prometheus_client, pygit2, returns.result, typing_extensions, yaml]
    suffix = ".py" if tree == SOURCE_TREE else ".pyc"
    misplaced = [
        m.__name__
        for m in from_archive
        if not (str(m.__file__).startswith(pure) and str(m.__file__).endswith(suffix))
    ]
    natives = [sys.modules[name] for name in ("_cffi_backend", "pygit2._pygit2", "pygit2._libgit2")]
    misplaced += [m.__name__ for m in natives if not str(m.__file__).startswith(directory)]
    if misplaced:
        sys.stderr.write(f"{PROG}: selftest: loaded from the wrong place: {', '.join(misplaced)}\n")
        return 1
    version = pygit2.__version__  # type: ignore[attr-defined]  # not re-exported in its stubs
    print(
        f"selftest ok: {target} bytecode={tree} pygit2={version} "
        f"libgit2={pygit2.LIBGIT2_VERSION} libyaml={yaml.__with_libyaml__} natives={directory}"
    )
    return 0
