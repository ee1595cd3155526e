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
medians and the ratio of the first two; the goal is at most 1.3.
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
    }
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as cache:
        env = {**os.environ, "GITOPS_CACHE_DIR": cache}
        times = measure(commands, env, args.runs, args.warmup)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, command in commands.items():
        print(f"{name:14} median {medians[name] * 1000:7.1f} ms  ({' '.join(command)})")
    ratio = medians["pyz --version"] / medians["venv imports"]
    verdict = "within" if ratio <= GOAL else "over"
    print(
        f"ratio pyz / venv imports: {ratio:.2f} ({verdict} the {GOAL}x goal; {args.runs} runs each)"
    )
    zip_cost = medians["pyz --version"] / medians["venv app"]
    print(f"ratio pyz / venv app:     {zip_cost:.2f} (what running from the zip costs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
