"""Warm start of dist/gitops.pyz against importing the same dependencies in a virtualenv.

    python bench/startup.py [--runs N] [--pyz PATH] [--venv-python PATH] [--python PATH]

Runs `python gitops.pyz --version` (with the venv's base interpreter, as on a host where
nothing but CPython is installed) and `python -c "import pygit2, returns, prometheus_client,
docopt"` (with the venv's interpreter), interleaved so that both see the same machine load,
after warm-up runs that fill the native cache and the OS page cache. Prints both medians
and their ratio; the goal is a ratio of at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = "import pygit2, returns, prometheus_client, docopt"
GOAL = 1.3


def base_python(venv_python: Path) -> str:
    """The interpreter the venv was made from: what a host without the venv would run."""
    out = subprocess.run(
        [str(venv_python), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return out or str(venv_python)


def run_once(command: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(
    commands: dict[str, list[str]], env: dict[str, str], runs: int, warmup: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(warmup + runs):
        for name, command in commands.items():
            elapsed = run_once(command, env)
            if round_number >= warmup:
                times[name].append(elapsed)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "gitops.pyz")
    parser.add_argument("--venv-python", type=Path, default=ROOT / ".venv" / "bin" / "python")
    parser.add_argument("--python", help="interpreter for the pyz (default: the venv's base)")
    args = parser.parse_args(argv)
    if not args.pyz.is_file():
        print(f"{args.pyz} does not exist: run `make pyz` first", file=sys.stderr)
        return 2
    python = args.python or base_python(args.venv_python)
    commands = {
        "pyz --version": [python, str(args.pyz), "--version"],
        "venv imports": [str(args.venv_python), "-c", IMPORTS],
    }
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as cache:
        env = {**os.environ, "GITOPS_CACHE_DIR": cache}
        times = measure(commands, env, args.runs, args.warmup)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, command in commands.items():
        print(f"{name:14} median {medians[name] * 1000:7.1f} ms  ({' '.join(command)})")
    ratio = medians["pyz --version"] / medians["venv imports"]
    verdict = "within" if ratio <= GOAL else "over"
    print(f"ratio {ratio:.2f} ({verdict} the {GOAL}x goal; {args.runs} runs each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
