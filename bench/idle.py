"""A check with nothing to do, on 50 deployed stacks, against the I/O floor of such a check.

    python bench/idle.py [--runs N] [--stacks N] [--pyz PATH] [--against DIR]

Deploys N one-service stacks on the real engine (scripts/engine.sh), then times, interleaved
so that all see the same machine load:

  pyz --once      `python dist/gitops.pyz --once --no-metrics` with nothing new (if built)
  venv --once     `python -m gitops_compose --once --no-metrics` in .venv
  floor           the I/O floor of such a check, as three commands: Python starting
                  (`python -c pass`), `git fetch` from the origin, and one `docker ps`
                  for all projects
  pygit2 floor    the same with `python -c "import pygit2"` for Python starting: what any
                  check through pygit2 pays before it does anything

With ``--against DIR`` (a checkout of another revision, e.g. from ``git worktree add``), its
``python -m gitops_compose --once`` is timed in the same rounds. Prints the medians and the
ratios to both floors, and the Docker calls of an idle check by kind. The goal is at most
1.5x the pygit2 floor, with one ``docker ps`` and no Compose command. Before the timed runs,
a full pass over the deployed stacks with a new state counts its ``config --hash`` calls
(at most one a stack).
Every command runs with the same environment, less PYTHONDONTWRITEBYTECODE (a host's Python
writes its bytecode cache; without it the venv would compile every module on every run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import World, engine_problem, stack_yaml  # noqa: E402

GOAL = 1.5


def timed(command: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    # Not from this checkout's directory: `python -m` would import the package there first.
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "gitops.pyz")
    parser.add_argument("--against", type=Path, help="a checkout of another revision")
    options = parser.parse_args()
    problem = engine_problem()
    if problem is not None:
        print(f"bench/idle.py: {problem}", file=sys.stderr)
        return 2
    docker = shutil.which("docker")
    assert docker is not None
    with tempfile.TemporaryDirectory(prefix="gitops-bench-idle-") as tmp:
        world = World(Path(tmp), docker)
        try:
            for n in range(options.stacks):
                # Names of its own: another run on the same engine may hold idle00.
                world.pusher.write(f"{world.name(f'idle{n:02d}')}/compose.yaml", stack_yaml())
            world.pusher.commit_and_push("stacks")
            first = world.run("--once", "--no-metrics", timeout=600)
            if first.returncode != 0:
                print(first.stderr, file=sys.stderr)
                return 1
            full_pass = adopting_pass(world)
            if full_pass is None:
                return 1
            env = world.env()
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            python = sys.executable
            fetch = ["git", "-C", str(world.host), "fetch", "-q", "origin"]
            label = "label=com.docker.compose.project"
            ps = [docker, "ps", "--all", "--no-trunc", "--filter", label, "--format", "{{.Names}}"]
            check = ["--repo", str(world.host), "--once", "--no-metrics"]
            commands: dict[str, list[Sequence[str]]] = {
                "venv --once": [[python, "-m", "gitops_compose", *check]],
                "floor": [[python, "-c", "pass"], fetch, ps],
                "pygit2 floor": [[python, "-c", "import pygit2"], fetch, ps],
            }
            if options.against is not None:
                other = str(options.against.resolve())
                commands["against --once"] = [
                    ["env", f"PYTHONPATH={other}", python, "-m", "gitops_compose", *check]
                ]
            if options.pyz.exists():
                commands["pyz --once"] = [[python, str(options.pyz), *check]]
            else:
                print(f"({options.pyz} not built: `make pyz` adds the pyz line)")
            samples: dict[str, list[float]] = {name: [] for name in commands}
            calls = {name: Calls() for name in commands}
            for _ in range(3):  # warm-up: page cache, the pyz's native cache
                for steps in commands.values():
                    for step in steps:
                        timed(step, env, world.tmp)
            world.clear_calls()  # the warm-up's calls count for no check
            for _ in range(options.runs):
                for name, steps in commands.items():
                    samples[name].append(sum(timed(step, env, world.tmp) for step in steps))
                    calls[name] = calls[name].plus(Calls.of(world.docker_calls()))
                    world.clear_calls()
        finally:
            world.cleanup()
    report(samples, calls, options.runs, options.stacks)
    print(f"a full pass over the {options.stacks} running stacks (a new state), adopting them")
    print(f"  {full_pass.shown(1)}")
    print(f"  goal: at most {options.stacks} config --hash")
    return 0


def adopting_pass(world: World) -> Calls | None:
    """The Docker calls of a full pass over stacks that already run (a new state: the
    first check of a host that runs them), which asks Compose for their configuration
    hashes; None when it fails."""
    (world.host / ".git" / "gitops-compose" / "state.json").unlink()
    world.clear_calls()
    adopting = world.run("--once", "--no-metrics", timeout=600)
    if adopting.returncode != 0:
        print(adopting.stderr, file=sys.stderr)
        return None
    found = Calls.of(world.docker_calls())
    world.clear_calls()
    return found


@dataclass(frozen=True)
class Calls:
    """Docker calls through the e2e wrapper, by kind."""

    docker: int = 0
    ps: int = 0
    compose: int = 0
    config_hash: int = 0

    @staticmethod
    def of(lines: Sequence[str]) -> Calls:
        return Calls(
            docker=len(lines),
            ps=sum(1 for line in lines if line.split(" ", 1)[0] == "ps"),
            compose=sum(1 for line in lines if line.startswith("compose")),
            config_hash=sum(
                1 for line in lines if line.startswith("compose") and " config --hash" in line
            ),
        )

    def plus(self, other: Calls) -> Calls:
        return Calls(
            self.docker + other.docker,
            self.ps + other.ps,
            self.compose + other.compose,
            self.config_hash + other.config_hash,
        )

    def shown(self, runs: int) -> str:
        return (
            f"{self.docker / runs:.0f} Docker calls: {self.ps / runs:.0f} docker ps, "
            f"{self.compose / runs:.0f} compose ({self.config_hash / runs:.0f} config --hash)"
        )


def report(
    samples: dict[str, list[float]], calls: dict[str, Calls], runs: int, stacks: int
) -> None:
    floor = statistics.median(samples["floor"])
    pygit2_floor = statistics.median(samples["pygit2 floor"])
    print(f"idle check, {stacks} stacks deployed, median of {runs} runs")
    for name, values in samples.items():
        median = statistics.median(values)
        ratios = f"{median / floor:.2f}x the floor, {median / pygit2_floor:.2f}x the pygit2 floor"
        if "floor" in name:
            print(f"  {name:<14} {median * 1000:7.1f} ms")
            continue
        print(f"  {name:<14} {median * 1000:7.1f} ms  {ratios}")
        print(f"  {'':<14} a check: {calls[name].shown(runs)}")
    print(f"  goal: at most {GOAL}x the pygit2 floor, and one docker ps and no Compose call")


if __name__ == "__main__":
    sys.exit(main())
