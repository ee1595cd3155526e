"""Warm start of dist/gitops.pyz against importing the same dependencies in a virtualenv.

    python bench/startup.py [--runs N] [--pyz PATH] [--venv-python PATH] [--python PATH]

Runs, interleaved so that all see the same machine load, after warm-up runs that fill the
native cache and the OS page cache:

  pyz --version   `python dist/gitops.pyz --version`
  venv imports    `python -c "import pygit2, returns, prometheus_client, docopt"` in .venv
  venv app        `python -m gitops_compose --version` in .venv: the same program as the
                  first line, installed the ordinary way, which separates what the zip costs
                  from what the CLI itself imports

All three use the venv's interpreter by default, so that they pay for the same site-packages
processing (`--python` runs the pyz with another one, such as the venv's base). Prints the
medians of wall and CPU time (user + system, steadier on a loaded machine) and the ratios;
the goal for pyz / venv imports is at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = "import pygit2, returns, prometheus_client, docopt"
# What the zip's self-test imports, for a like-for-like measure of the zip's own cost.
ALL_IMPORTS = "import docopt, prometheus_client, pygit2, returns.result, typing_extensions, yaml"
GOAL = 1.3


class Sample(NamedTuple):
    wall: float
    cpu: float  # user + system of the child: steadier than wall time on a busy machine


def run_once(command: Sequence[str], env: dict[str, str]) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Sample(wall, cpu)


def measure(
    commands: dict[str, list[str]], env: dict[str, str], runs: int, warmup: int
) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for round_number in range(warmup + runs):
        for name, command in commands.items():
            sample = run_once(command, env)
            if round_number >= warmup:
                samples[name].append(sample)
    return samples


def report(commands: dict[str, list[str]], samples: dict[str, list[Sample]]) -> None:
    wall = {name: statistics.median(s.wall for s in samples[name]) for name in commands}
    cpu = {name: statistics.median(s.cpu for s in samples[name]) for name in commands}
    for name, command in commands.items():
        print(
            f"{name:16} median {wall[name] * 1000:6.1f} ms wall, {cpu[name] * 1000:6.1f} ms cpu"
            f"  ({' '.join(command)})"
        )
    ratio = wall["pyz --version"] / wall["venv imports"]
    cpu_ratio = cpu["pyz --version"] / cpu["venv imports"]
    verdict = "within" if ratio <= GOAL else "over"
    print(f"ratio pyz / venv imports: {ratio:.2f} wall, {cpu_ratio:.2f} cpu ({verdict} {GOAL}x)")
    zip_cost = wall["pyz --version"] / wall["venv app"]
    zip_cpu = cpu["pyz --version"] / cpu["venv app"]
    print(f"ratio pyz / venv app:     {zip_cost:.2f} wall, {zip_cpu:.2f} cpu (--version only)")
    same = wall["pyz imports"] / wall["venv all imports"]
    same_cpu = cpu["pyz imports"] / cpu["venv all imports"]
    print(f"ratio same imports:       {same:.2f} wall, {same_cpu:.2f} cpu (the zip's own cost)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "gitops.pyz")
    parser.add_argument("--venv-python", type=Path, default=ROOT / ".venv" / "bin" / "python")
    parser.add_argument("--python", help="interpreter for the pyz (default: the venv's)")
    args = parser.parse_args(argv)
    if not args.pyz.is_file():
        print(f"{args.pyz} does not exist: run `make pyz` first", file=sys.stderr)
        return 2
    venv = str(args.venv_python)
    commands = {
        "pyz --version": [args.python or venv, str(args.pyz), "--version"],
        "venv imports": [venv, "-c", IMPORTS],
        "venv app": [venv, "-m", "gitops_compose", "--version"],
        # The CLI answers --version before loading git or metrics code; these two load
        # every dependency, from the zip and from the venv.
        "pyz imports": ["env", "GITOPS_PYZ_SELFTEST=1", args.python or venv, str(args.pyz)],
        "venv all imports": ["env", "GITOPS_PYZ_SELFTEST=1", venv, "-c", ALL_IMPORTS],
    }
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as cache:
        # A venv normally has bytecode in __pycache__: let the warm-up runs write it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["GITOPS_CACHE_DIR"] = cache
        samples = measure(commands, env, args.runs, args.warmup)
    print(f"{args.runs} interleaved runs each, after {args.warmup} warm-up rounds")
    report(commands, samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
