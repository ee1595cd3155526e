"""50 changed one-service stacks with --jobs 1, 2, 4 and 8, against a plain sequential loop.

    python bench/jobs.py [--stacks N] [--jobs 1,2,4,8] [--against DIR]

On the real engine (scripts/engine.sh), deploys N one-service stacks, counting the Docker
calls of that first pass (through the e2e tests' wrapper; the goal: N `compose up` and at
most 10 more), then times in one run, each side calling the real docker (the counting
wrapper, a bash script run for every call, is on the PATH of the first pass alone):

  loop            `docker compose up -d --pull always --force-recreate` for each stack, one
                  after another: what a shell script over the same stacks would do
  4 at a time     the same commands, four running at once: what the engine gives
  --jobs N        a push that changes every stack's command, then `--once --jobs N`: fetch,
                  plan, fast-forward, and N Compose commands at a time
  default options the same with no option: --jobs 4 and the health gate with its 10 s
                  settle window, which the apply ratio leaves out

The loop runs first and last, and the ratios are to the mean of the two. Beside each time,
the CPU seconds it cost: its own process and all it waited for (Compose, for the loop and
for `--once` alike), and what dockerd and containerd spent meanwhile (from /proc, so
whatever else the engine did then counts too). With ``--against
DIR`` (a checkout of another revision) its `--once` is timed too. The goals, on a 2-core
machine: --jobs 4 at most 0.6x the loop, and so the apply with default options less its
settle window.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import World, engine_problem, stack_yaml  # noqa: E402

GOAL = 0.6
# The settle window of the default options, which the loop does not wait for.
SETTLE = 10.0
# Docker calls of a first pass of N new stacks beyond its N `compose up`.
CALLS_GOAL = 10


TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cost:
    """What one timed run cost: seconds, and CPU seconds of its own (the run's process and
    all it waited for) and of the engine (dockerd and containerd, from /proc)."""

    seconds: float
    cpu: float
    engine: float

    def __str__(self) -> str:
        return f"{self.seconds:6.2f} s  CPU {self.cpu:5.2f} s + engine {self.engine:5.2f} s"


def engine_cpu() -> float:
    """CPU seconds dockerd and containerd (not its shims) spent so far, with their children."""
    spent = 0
    for entry in os.listdir("/proc"):
        try:
            name = Path(f"/proc/{entry}/comm").read_text().strip() if entry.isdigit() else ""
            if name in ("dockerd", "containerd"):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                spent += sum(int(each) for each in fields[11:15])  # utime stime cutime cstime
        except OSError:
            continue
    return spent / TICKS


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measured(run: Callable[[], object]) -> Cost:
    cpu, engine, start = children_cpu(), engine_cpu(), time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return Cost(seconds, children_cpu() - cpu, engine_cpu() - engine)


class Fleet:
    """The benchmark's stacks in one world: pushes, checks and plain Compose loops."""

    def __init__(self, world: World, docker: str, paths: list[str]) -> None:
        self.world, self.docker, self.paths = world, docker, paths
        # The calls are counted through the wrapper first on the PATH of world.env(); the
        # timed runs call the real docker, as the loop does.
        self.counted_env = world.env()
        self.counted_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env = {**self.counted_env, "PATH": os.environ.get("PATH", "")}
        self.env.pop("DOCKER_CONFIG", None)
        if "DOCKER_CONFIG" in os.environ:
            self.env["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]
        self.revision = 0

    def counted(self, *args: str) -> Cost:
        """``check``, with every Docker call through the e2e tests' counting wrapper."""
        return self.check(*args, env=self.counted_env)

    def check(
        self, *args: str, python_path: str | None = None, env: dict[str, str] | None = None
    ) -> Cost:
        """Push a changed command to every stack (so each is recreated, as by the loop),
        then time one ``--once``."""
        self.revision += 1
        for path in self.paths:
            command = f"sleep 3600; : revision {self.revision}"
            self.world.pusher.write(f"{path}/compose.yaml", stack_yaml(command))
        self.world.pusher.commit_and_push(f"revision {self.revision}")
        env = dict(self.env if env is None else env)
        if python_path is not None:
            env["PYTHONPATH"] = python_path
        program = [sys.executable, "-m", "gitops_compose", "--repo", str(self.world.host)]

        def once() -> None:
            done = subprocess.run(
                [*program, "--once", "--no-metrics", *args],
                env=env,
                cwd=self.world.tmp,  # `python -m` would import a package in the cwd first
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"--once {' '.join(args)} failed:\n{done.stderr}")

        return measured(once)

    def up(self, path: str) -> None:
        directory = str(self.world.host / path)
        where = ["--project-name", path, "--project-directory", directory]
        files = ["--file", f"{directory}/compose.yaml"]
        recreate = ["up", "--detach", "--pull", "always", "--force-recreate"]
        subprocess.run(
            [self.docker, "compose", *where, *files, *recreate], check=True, capture_output=True
        )

    def loop(self, at_once: int = 1) -> Cost:
        def ups() -> None:
            with ThreadPoolExecutor(max_workers=at_once) as pool:
                list(pool.map(self.up, self.paths))

        return measured(ups)


def print_rounds(rounds: list[tuple[Cost, Cost, Cost | None]]) -> None:
    """The apply with default options less its settle window, beside the loop of the same
    round (and the other revision's, when timed), with what each cost in CPU."""
    if not rounds:
        return
    print(f"default options less the {SETTLE:g} s settle window, beside the loop")
    for number, (loop, ours, theirs) in enumerate(rounds, 1):
        applied = ours.seconds - SETTLE
        print(f"  round {number}: loop  {loop}")
        print(f"           apply {ours}  {applied:6.2f} s {applied / loop.seconds:.2f}x")
        if theirs is not None:
            other = theirs.seconds - SETTLE
            print(f"         against {theirs}  {other:6.2f} s {other / loop.seconds:.2f}x")
    ratios = [(ours.seconds - SETTLE) / loop.seconds for loop, ours, _ in rounds]
    print(f"  median {statistics.median(ratios):.2f}x the loop (goal: at most {GOAL}x)")
    theirs_ratios = [
        (theirs.seconds - SETTLE) / loop.seconds for loop, _, theirs in rounds if theirs is not None
    ]
    if theirs_ratios:
        print(f"  against: median {statistics.median(theirs_ratios):.2f}x the loop")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--jobs", default="1,2,4,8")
    parser.add_argument("--against", type=Path, help="a checkout of another revision")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the loop beside default options"
    )
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
        rounds: list[tuple[Cost, Cost, Cost | None]] = []
        try:
            world.clear_calls()
            stacks.counted("--jobs", "4")
            calls = world.docker_calls()
            ups = sum(call.startswith("compose ") and " up " in call for call in calls)
            times = {"loop (first)": stacks.loop(), "4 at a time": stacks.loop(4)}
            times["default options"] = stacks.check()
            for jobs in options.jobs.split(","):
                times[f"--jobs {jobs}"] = stacks.check("--jobs", jobs)
            # The loop proves nothing about health; the check waits at the health gate.
            # Without its settle window, what the gate itself costs shows apart.
            times["--jobs 4, --settle 0"] = stacks.check("--jobs", "4", "--settle", "0")
            if options.against is not None:
                times["against"] = stacks.check(python_path=str(options.against.resolve()))
            times["loop (last)"] = stacks.loop()
            # The apply ratio, side by side with the loop, round after round: the machine
            # is shared and noisy.
            against = None if options.against is None else str(options.against.resolve())
            for _ in range(options.rounds):
                loop = stacks.loop()
                ours = stacks.check()
                theirs = None if against is None else stacks.check(python_path=against)
                rounds.append((loop, ours, theirs))
        finally:
            world.cleanup()
    reference = statistics.mean([times["loop (first)"].seconds, times["loop (last)"].seconds])
    print(f"a first pass of {options.stacks} new one-service stacks, --jobs 4")
    print(f"  {len(calls)} Docker calls: {ups} compose up and {len(calls) - ups} more")
    print(f"  goal: {options.stacks} compose up and at most {CALLS_GOAL} more")
    print(f"{options.stacks} changed one-service stacks, one run each")
    for name, cost in times.items():
        print(f"  {name:<21} {cost}  {cost.seconds / reference:.2f}x the loop")
    applied = times["default options"].seconds - SETTLE
    print(
        f"  default options, less the {SETTLE:g} s settle window: {applied:.2f} s, "
        f"{applied / reference:.2f}x the loop"
    )
    print(f"  goal: --jobs 4 at most {GOAL}x the loop, and the apply less its settle window")
    print_rounds(rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
