"""50 changed one-service stacks with --jobs 1, 2, 4 and 8, against a plain sequential loop.

    python bench/jobs.py [--stacks N] [--jobs 1,2,4,8] [--against DIR]

On the real engine (scripts/engine.sh), deploys N one-service stacks, then times in one run:

  loop            `docker compose up -d --pull always --force-recreate` for each stack, one
                  after another: what a shell script over the same stacks would do
  4 at a time     the same commands, four running at once: what the engine gives
  --jobs N        a push that changes every stack's .env, then `--once --jobs N`: fetch,
                  plan, fast-forward, and N Compose commands at a time

The loop runs first and last, and the ratios are to the mean of the two. With ``--against
DIR`` (a checkout of another revision) its `--once` is timed too. The goal: --jobs 4 at most
0.6x the loop on a 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import World, engine_problem, stack_yaml  # noqa: E402

GOAL = 0.6


class Fleet:
    """The benchmark's stacks in one world: pushes, checks and plain Compose loops."""

    def __init__(self, world: World, docker: str, paths: list[str]) -> None:
        self.world, self.docker, self.paths = world, docker, paths
        self.env = world.env()
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.revision = 0

    def check(self, *args: str, python_path: str | None = None) -> float:
        """Push a change to every stack, then time one ``--once``."""
        self.revision += 1
        for path in self.paths:
            self.world.pusher.write(f"{path}/.env", f"REVISION={self.revision}\n")
        self.world.pusher.commit_and_push(f"revision {self.revision}")
        env = dict(self.env)
        if python_path is not None:
            env["PYTHONPATH"] = python_path
        command = [sys.executable, "-m", "gitops_compose", "--repo", str(self.world.host)]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--once", "--no-metrics", *args],
            env=env,
            cwd=self.world.tmp,  # `python -m` would import a package in the cwd first
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"--once {' '.join(args)} failed:\n{done.stderr}")
        return seconds

    def up(self, path: str) -> None:
        directory = str(self.world.host / path)
        where = ["--project-name", path, "--project-directory", directory]
        files = ["--file", f"{directory}/compose.yaml"]
        recreate = ["up", "--detach", "--pull", "always", "--force-recreate"]
        subprocess.run(
            [self.docker, "compose", *where, *files, *recreate], check=True, capture_output=True
        )

    def loop(self, at_once: int = 1) -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            list(pool.map(self.up, self.paths))
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--jobs", default="1,2,4,8")
    parser.add_argument("--against", type=Path, help="a checkout of another revision")
    options = parser.parse_args()
    problem = engine_problem()
    if problem is not None:
        print(f"bench/jobs.py: {problem}", file=sys.stderr)
        return 2
    docker = shutil.which("docker")
    assert docker is not None
    paths = [f"jobs{n:02d}" for n in range(options.stacks)]
    with tempfile.TemporaryDirectory(prefix="gitops-bench-jobs-") as tmp:
        world = World(Path(tmp), docker)
        stacks = Fleet(world, docker, paths)
        try:
            for path in paths:
                world.pusher.write(f"{path}/compose.yaml", stack_yaml())
            stacks.check("--jobs", "4")
            times = {"loop (first)": stacks.loop(), "4 at a time": stacks.loop(4)}
            for jobs in options.jobs.split(","):
                times[f"--jobs {jobs}"] = stacks.check("--jobs", jobs)
            # The loop proves nothing about health; the check waits at the health gate.
            # Without its settle window, what the gate itself costs shows apart.
            times["--jobs 4, --settle 0"] = stacks.check("--jobs", "4", "--settle", "0")
            if options.against is not None:
                times["against"] = stacks.check(python_path=str(options.against.resolve()))
            times["loop (last)"] = stacks.loop()
        finally:
            world.cleanup()
    reference = statistics.mean([times["loop (first)"], times["loop (last)"]])
    print(f"{options.stacks} changed one-service stacks, one run each")
    for name, seconds in times.items():
        print(f"  {name:<21} {seconds:6.2f} s  {seconds / reference:.2f}x the loop")
    print(f"  goal: --jobs 4 at most {GOAL}x the loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
