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
