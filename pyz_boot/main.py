# ruff: noqa: UP031, PLC0415
"""First stage of gitops.pyz; the build stores this file, as written, as the archive's __main__.py.

It stays in syntax that any CPython from 2.7 on can parse (no f-strings, no annotations):
an old interpreter that someone points at the file must reach the one-line "unsupported"
message, not a SyntaxError traceback. It reads the build's manifest (build_pyz/manifest.py),
identifies the interpreter and platform, then hands over to the real bootstrap
(gitops_pyz_boot), which is imported from the bytecode tree compiled for this Python version.
"""

import os
import sys

MYPY = False  # mypy takes it for True: typing is not in the standard library of 2.7
if MYPY:
    from typing import Any, NoReturn  # noqa: F401  (used in type comments)

    from build_pyz.manifest import Manifest  # noqa: F401  (the build's; never runs here)

_PROG = "gitops.pyz"
_MANIFEST_MODULE = "gitops_pyz_manifest"  # build_pyz.manifest.MODULE
_SOURCE_TREE = "src"  # no bytecode tree for this version: run lib/boot and the sources
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def _libc():
    # type: () -> tuple[str, str]
    """Return ("manylinux", "2.36") on glibc, ("musllinux", "") on musl, else (name, "")."""
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        found = None
    if found and found.startswith("glibc "):
        return "manylinux", found.split(" ", 1)[1]
    # musl has no confstr for its version; its dynamic loader's name gives it away.
    for name in os.listdir("/lib") if os.path.isdir("/lib") else []:
        if name.startswith("ld-musl-"):
            return "musllinux", ""
    import platform  # slow, but only reached by interpreters without that confstr (2.7)

    name, version = platform.libc_ver()
    if name == "glibc":
        return "manylinux", version
    return "unknown-libc", ""


def _machine():
    # type: () -> str
    uname = getattr(os, "uname", None)  # missing on Windows
    machine = uname()[4].lower() if uname is not None else "unknown"
    machine = _MACHINE_ALIASES.get(machine, machine)
    if sys.maxsize <= 2**32:
        # A 32-bit userland on a 64-bit kernel cannot load 64-bit extension modules.
        machine = machine + " (32-bit Python)"
    return machine


def _version_tuple(text):
    # type: (str) -> tuple[int, ...]
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _describe(impl, libc, libc_version, machine):
    # type: (str, str, str, str) -> str
    flavour = ""
    if "t" in getattr(sys, "abiflags", ""):
        flavour = " (free-threaded)"
    version = "%d.%d.%d" % tuple(sys.version_info[:3])
    libc_text = libc.replace("manylinux", "glibc").replace("musllinux", "musl")
    if libc_version:
        libc_text = libc_text + " " + libc_version
    return "%s %s%s on %s %s (%s)" % (
        impl,
        version,
        flavour,
        sys.platform,
        machine,
        libc_text,
    )


def _target(manifest):
    # type: (Manifest) -> tuple[str | None, str]
    """Return (target key or None, description of what was found)."""
    implementation = getattr(sys, "implementation", None)
    name = implementation.name if implementation is not None else "python"
    impl = {"cpython": "CPython", "pypy": "PyPy", "python": "Python"}.get(name, name)
    libc, libc_version = _libc() if sys.platform.startswith("linux") else ("", "")
    machine = _machine()
    found = _describe(impl, libc, libc_version, machine)
    if name != "cpython" or "t" in getattr(sys, "abiflags", ""):
        return None, found
    key = "cp%d%d-%s_%s" % (sys.version_info[0], sys.version_info[1], libc, machine)
    target = manifest["targets"].get(key)
    if target is None:
        return None, found
    if libc == "manylinux" and _version_tuple(libc_version) < _version_tuple(target["oldest_libc"]):
        return None, found
    return key, found


def _refuse(message):
    # type: (str) -> NoReturn
    sys.stderr.write("%s: %s\n" % (_PROG, message))
    sys.exit(2)


def _read_manifest(archive):
    # type: (str) -> tuple[Manifest, str]
    """Return the build's manifest and the tree to run: this version's bytecode, or "src".

    Every bytecode tree holds the manifest module, and lib/boot its source. Loading it
    from this version's tree is also the test that the tree suits this interpreter:
    zipimport refuses a .pyc of another bytecode format (patch releases keep the format,
    but a release may change it), and a version without a tree (3.14 today, and every
    version the file refuses) finds none. Either runs the sources.
    """
    import zipimport  # already imported: it runs this file

    tree = "cp%d%d" % tuple(sys.version_info[:2])
    if os.environ.get("GITOPS_PYZ_SOURCE"):
        tree = _SOURCE_TREE  # for tests: what a version without a bytecode tree runs
    for candidate in (tree, _SOURCE_TREE):
        directory = candidate if candidate != _SOURCE_TREE else "boot"
        try:
            code = zipimport.zipimporter(archive + "/lib/" + directory).get_code(_MANIFEST_MODULE)
        except ImportError:
            continue
        namespace = {}  # type: dict[str, Any]
        exec(code, namespace)
        return namespace["MANIFEST"], candidate
    _refuse("damaged file: no lib/boot/%s.py in %s" % (_MANIFEST_MODULE, archive))


def _main():
    # type: () -> None
    archive = __loader__.archive  # type: ignore[name-defined]  # the zipimporter of this file
    manifest, tree = _read_manifest(archive)
    key, found = _target(manifest)
    if key is None:
        _refuse(
            "unsupported interpreter or platform: found %s; this file supports %s"
            % (found, manifest["supports"])
        )
    # Index 1: after the archive itself, before the standard library and any
    # site-packages, so that the bundled, tested versions win over installed ones.
    # Without a bytecode tree, only the bootstrap runs from (source in) the archive:
    # it unpacks the other sources into the cache and puts them on sys.path.
    sys.path.insert(1, archive + "/lib/" + (tree if tree != _SOURCE_TREE else "boot"))
    import gitops_pyz_boot

    gitops_pyz_boot.main(archive, manifest, key, tree)


if __name__ == "__main__":
    _main()
