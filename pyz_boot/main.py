# ruff: noqa: UP031, PLC0415
"""First stage of gitops.pyz; build_zipapp.py stores this file as the archive's __main__.py.

It stays in syntax that any CPython from 2.7 on can parse (no f-strings, no annotations):
an old interpreter that someone points at the file must reach the one-line "unsupported"
message, not a SyntaxError traceback. It only identifies the interpreter and platform,
then hands over to the real bootstrap (gitops_pyz_boot), which is imported from the
bytecode tree compiled for this Python version.
"""

import os
import sys

MYPY = False  # mypy takes it for True: typing is not in the standard library of 2.7
if MYPY:
    from typing import Any, NoReturn  # noqa: F401  (used in type comments)

# build_zipapp.py replaces this line with the facts of the build:
#   targets:  {"cp311-manylinux_x86_64": "2.26", ...} (value: oldest libc the wheels accept)
#   bytecode: {"cp311": "a70d0d0a", ...} (versions with a precompiled tree, and the pyc
#             magic number of the interpreter that compiled it; others run the sources)
#   supports: the human summary used in the refusal message
BUILD = {"targets": {}, "bytecode": {}, "supports": "nothing (unbuilt bootstrap)"}  # type: dict[str, Any]  # @build@

_PROG = "gitops.pyz"
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


def _target():
    # type: () -> tuple[str | None, str]
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
    oldest_libc = BUILD["targets"].get(key)
    if oldest_libc is None:
        return None, found
    if libc == "manylinux" and _version_tuple(libc_version) < _version_tuple(oldest_libc):
        return None, found
    return key, found


def _refuse(found):
    # type: (str) -> NoReturn
    sys.stderr.write(
        "%s: unsupported interpreter or platform: found %s; this file supports %s\n"
        % (_PROG, found, BUILD["supports"])
    )
    sys.exit(2)


def _bytecode_tree(tag):
    # type: (str) -> str
    """This version's bytecode tree, or "src" when it has none that this interpreter loads."""
    if os.environ.get("GITOPS_PYZ_SOURCE"):
        return "src"  # for tests: what a version without a bytecode tree (3.14 today) runs
    magic = BUILD["bytecode"].get(tag)
    if magic is None:
        return "src"
    import importlib.util  # already imported by runpy, which runs this file

    # Patch releases keep the magic number, so this holds unless a release changed the
    # bytecode format; zipimport would then find neither a usable .pyc nor a .py.
    return tag if importlib.util.MAGIC_NUMBER.hex() == magic else "src"


def _main():
    # type: () -> None
    key, found = _target()
    if key is None:
        _refuse(found)
    tree = _bytecode_tree(key.split("-", 1)[0])
    archive = __loader__.archive  # type: ignore[name-defined]  # the zipimporter of this file
    # Index 1: after the archive itself, before the standard library and any
    # site-packages, so that the bundled, tested versions win over installed ones.
    # Without a bytecode tree, only the bootstrap runs from (source in) the archive:
    # it unpacks the other sources into the cache and puts them on sys.path.
    sys.path.insert(1, archive + "/lib/" + (tree if tree != "src" else "boot"))
    import gitops_pyz_boot

    gitops_pyz_boot.main(archive, key, tree)


if __name__ == "__main__":
    _main()
