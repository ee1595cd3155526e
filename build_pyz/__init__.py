"""The build of dist/gitops.pyz, the one file users copy to a Docker host and run with CPython
>= 3.11.

Run it with `python build_zipapp.py` (or `make pyz`); `--lock` refreshes the wheel hashes.

Why a bootstrap of our own and not shiv: shiv unpacks the whole site-packages of one
platform into ~/.shiv on first run and runs from there. This file must carry the native
parts of pygit2 and cffi for four CPython versions on several platforms, store the
libraries they share only once, unpack only the running interpreter's set, and otherwise
run straight from the zip with bytecode for each Python version. shiv does none of that,
and an old interpreter would meet its bootstrap as a SyntaxError traceback. The two small
files in pyz_boot/ do all of it, and building needs nothing beyond the standard library
and pip.

Layout of the archive (entries sorted, timestamps fixed at 1980-01-01, modes fixed):

    __main__.py            pyz_boot/main.py as written; any CPython from 2.7 on can parse it,
                           so an old one gets the one-line refusal
    lib/cp311/ ...         sourceless bytecode trees: a legacy `foo.pyc` where `foo.py` would
    lib/cp312/ ...         be, the only form of bytecode that zipimport loads
    lib/cp311-on-demand.zip  each tree's packages that only notifications import (Apprise
                           and its dependencies), as a nested zip: unpacked into the cache
                           and put on sys.path at the first import of one of them
    lib/boot/              the bootstrap's sources, and
    lib/sources.zip        every other module's, for a supported version that had no
                           interpreter on the build machine (see below)
    native/<sha>/<name>    every native file once, named by content hash: the bundled libgit2,
                           OpenSSL, libssh2 and PCRE are byte-identical across Python versions
    native/manifest.json   the manifest as JSON, for people and tests: the bootstrap reads the
                           same value from lib/*/gitops_pyz_manifest (see manifest.py)
    licenses/              the licence files of every bundled distribution

Bytecode per Python version: a .pyc loads only on the minor version that wrote it, and
zipimport neither reads __pycache__ nor writes anything, so each supported version gets its
own sourceless tree, compiled by that version's interpreter if the build machine has one
(pyenv, PATH, or $GITOPS_PYZ_PYTHONS). A version without one runs the bootstrap from
lib/boot, and its first run unpacks lib/sources.zip next to the native files in the cache,
where the interpreter compiles each module once into __pycache__: from the zip it would
recompile all of them on every run (twice the start time). The sources are one nested
member rather than a tree so that they do not lengthen the central directory, which
zipimport parses on every start (~10 us per entry). For the same reason each tree's
packages on demand are a nested zip of their own: Apprise and what it needs were two
thirds of the entries (some 1,700 of 2,500), and a check imports none of them.

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

The contract with the bootstrap in pyz_boot/ is one value, the manifest: its fields, its
serialised form and who reads what are in manifest.py. The modules, in the order the build
uses them:

    targets.py        CPython versions times platforms
    lock.py           requirements/pyz.txt, the pinned wheels and their hashes
    wheels.py         wheel names, the local wheel cache, pip downloads
    native.py         the compiled files of each target, stored once by content
    sources.py        the pure-Python modules, ours and the bundled distributions'
    licenses.py       the licence files of the bundled distributions
    manifest.py       what the bootstrap is told
    interpreters.py   the CPythons on this machine that compile the bytecode trees
    bytecode.py       the trees, compiled per version and cached
    zip_writer.py     the reproducible zip writer
    archive.py        the layout above, and the build that writes it
    command.py        the command line
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
