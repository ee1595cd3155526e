"""Parse time of a first check on 1,000 stacks: today's loader beside the Compose loader.

    python bench/parse.py [--runs N] [--stacks N]

Parses the compose.yaml of each of bench/plan.py's stacks once, as the first check of a
new process does (nothing cached), with:

  PyYAML load        yaml.load with CSafeLoader (libyaml) / SafeLoader (pure Python), the
                     loader before compose_yaml
  compose_yaml       compose_merge.merged() over compose_yaml.documents(): YAML 1.2 values,
                     merge keys, !reset/!override, duplicate keys and bounds, on libyaml's /
                     PyYAML's pure parser

"venv" uses libyaml, as the virtualenv's PyYAML has it; "pyz" uses the pure-Python parser,
the one gitops.pyz bundles (the same PyYAML sources, without the C extension). Prints the
median of --runs runs, in total and per file; the goal is compose_yaml no slower than
PyYAML load on the pure path.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan import repository

from gitops_compose.core.compose import compose_yaml
from gitops_compose.core.compose.compose_merge import merged


def median_seconds(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", type=int, default=1000)
    args = parser.parse_args()
    files = [
        text.encode() for path, text in repository(args.stacks).items() if path.endswith(".yaml")
    ]
    if not hasattr(yaml, "CSafeLoader"):
        print("this PyYAML has no libyaml: the venv line measures the pure parser", file=sys.stderr)
    libyaml: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    pure = compose_yaml.PURE_LOADER

    def old(loader: type[yaml.SafeLoader]) -> Callable[[], object]:
        return lambda: [yaml.load(raw, Loader=loader) for raw in files]

    def new(loader: type[yaml.SafeLoader]) -> Callable[[], object]:
        parse = partial(compose_yaml.documents, loader=loader)

        def work() -> object:
            return [merged([raw], parse).unwrap() for raw in files]

        return work

    for first, second in ((old(libyaml), new(libyaml)), (old(yaml.SafeLoader), new(pure))):
        if first() and second():
            pass  # warm-up: imports, regular expressions
    rows = {
        ("venv", "PyYAML load"): median_seconds(args.runs, old(libyaml)),
        ("venv", "compose_yaml"): median_seconds(args.runs, new(libyaml)),
        ("pyz", "PyYAML load"): median_seconds(args.runs, old(yaml.SafeLoader)),
        ("pyz", "compose_yaml"): median_seconds(args.runs, new(pure)),
    }
    print(f"first check on {len(files):,} stacks, median of {args.runs} runs")
    for (where, loader), seconds in rows.items():
        per_file = seconds / len(files) * 1000
        print(f"{where:<5} {loader:<13} {seconds * 1000:8.1f} ms  {per_file:6.3f} ms per file")
    slower = rows[("pyz", "compose_yaml")] > rows[("pyz", "PyYAML load")]
    verdict = "SLOWER than" if slower else "not slower than"
    print(f"pyz: compose_yaml is {verdict} PyYAML load on the pure path")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
