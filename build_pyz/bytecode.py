"""Bytecode per Python version, compiled by that version's interpreter and cached.

Why a tree per version, and how it stays deterministic: the package docstring.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

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


class CompileJob(NamedTuple):
    tag: str
    process: subprocess.Popen[bytes]
    out: Path  # where the interpreter writes, beside the cache
    cache: Path
    todo: list[str]


class BytecodeCompiler:
    """Compiles sources with each interpreter, caching the bytecode tree by interpreter and
    by the whole set of sources.

    A file's bytecode can depend on what the same interpreter compiled before it: marshal
    flags an object it may meet again (FLAG_REF) by its reference count, which other modules'
    interned strings raise (seen with 3.13: one byte of forge.pyc, 0x7b or 0xfb). So a tree
    is compiled whole, in one order, and cached whole under the digest of every source: a
    warm build reads exactly what a cold build of the same sources compiled. The trees of
    earlier sources are removed once a new one is in place.
    """

    def __init__(self, build_cache: Path) -> None:
        self.directory = build_cache / "bytecode"

    def cache_dir(self, executable: str) -> Path:
        real = Path(executable).resolve()
        stat = real.stat()
        identity = f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\0{COMPILE_SCRIPT}"
        return self.directory / hashlib.sha256(identity.encode()).hexdigest()[:24]

    def tree_dir(self, executable: str, sources: Mapping[str, bytes]) -> Path:
        digest = hashlib.sha256()
        for rel, data in sources.items():
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        return self.cache_dir(executable) / digest.hexdigest()[:24]

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
                tree = self.tree_dir(executable, sources)
                if not tree.is_dir():
                    todo = list(sources)  # the whole tree: see the class docstring
                    jobs.append(self.start(f"cp{major}{minor}", executable, src, tree, todo))
            for job in jobs:
                self.finish(job)
        trees = {}
        for (major, minor), executable in sorted(interpreters.items()):
            tree = self.tree_dir(executable, sources)
            trees[f"cp{major}{minor}"] = {
                rel + "c": (tree / (rel + "c")).read_bytes() for rel in sorted(sources)
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

    @staticmethod
    def finish(job: CompileJob) -> None:
        """Wait for one interpreter, put its tree in place whole, and drop older trees."""
        try:
            if job.process.wait() != 0:
                raise SystemExit(f"compiling the {job.tag} bytecode tree failed")
            try:
                job.out.rename(job.cache)
            except OSError:
                if not job.cache.is_dir():  # else a build beside this one put it there
                    raise
            for other in job.cache.parent.iterdir():
                if other == job.cache or other.name.startswith(".tmp-"):
                    continue
                if other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
                else:  # a file of a cache from before trees
                    other.unlink(missing_ok=True)
        finally:
            shutil.rmtree(job.out, ignore_errors=True)
