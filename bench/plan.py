"""How long the core takes to find the stacks of a commit and to plan, for 1,000 and 10,000.

    python bench/plan.py [--runs N] [--sizes 1000,10000]

Builds a repository of N stacks (each a folder with a compose.yaml and a .env, one in ten
with nginx config in config/nginx/, one in twenty with a nested stack below it), a remote
head with about 1% of the stacks changed, 1% added and 1% removed, and a host on which
every stack of the local HEAD runs. Times, as medians of ``--runs`` runs:

  stacks_of cold   one commit, with a new parse cache (what a new process pays)
  stacks_of warm   the same commit again, every Compose file in the parse cache
  plan             the plan from the two commits' stacks, a full pass over the host state

and prints the ratio 10,000 / 1,000 for each. The goal is plan() under 100 ms for 10,000.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.snapshot import Snapshot, files_to_read
from gitops_compose.core.compose.stack import Stacks, stacks_of
from gitops_compose.core.reconcile.plan import Facts, plan
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell.yaml_parser import parse_cache

GOAL_SECONDS = 0.100
COMPOSE = """services:
  web:
    image: registry.local/{name}/web:{tag}
    env_file: .env
    restart: unless-stopped
    volumes:
      - ./config/nginx:/etc/nginx/conf.d:ro
  db:
    image: registry.local/postgres:16
    environment:
      POSTGRES_DB: {name}
  migrate:
    image: registry.local/{name}/web:{tag}
    command: migrate
    depends_on:
      db: {{condition: service_started}}
  worker:
    image: registry.local/{name}/web:{tag}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
"""


def repository(count: int) -> dict[str, str]:
    """``count`` stacks as {path: text}: apps of ten environments, some nested."""
    files = {"README.md": "# infra\n"}
    made = 0
    while made < count:
        base = f"app{made // 10:05d}/env{made % 10}"
        files.update(_stack(base, made))
        made += 1
        if made % 20 == 0 and made < count:
            files.update(_stack(f"{base}/canary", made))
            made += 1
    return files


def _stack(path: str, number: int, tag: int = 1) -> dict[str, str]:
    files = {
        f"{path}/compose.yaml": COMPOSE.format(name=path.replace("/", "-"), tag=tag),
        f"{path}/.env": f"STACK={number}\nLOG_LEVEL=info\n",
    }
    if number % 10 == 3:
        files[f"{path}/config/nginx/site.conf"] = f"server {{ listen 80; # {number}\n}}\n"
    return files


def successor(files: dict[str, str], stacks: list[str]) -> dict[str, str]:
    """A later commit: 1% of the stacks with a changed .env, 1% removed, 1% added."""
    after = dict(files)
    step = 100
    for index, path in enumerate(stacks[::step]):
        after[f"{path}/.env"] += "LOG_LEVEL=debug\n"
        removed = stacks[(index * step + step // 2) % len(stacks)]
        for each in [p for p in after if p.startswith(f"{removed}/")]:
            del after[each]
        after.update(_stack(f"new{index:05d}/production", 10**6 + index))
    return after


def snapshot(files: dict[str, str]) -> Snapshot:
    blobs = {path: hashlib.sha1(text.encode()).hexdigest() for path, text in files.items()}
    contents = {blobs[path]: files[path].encode() for path in files_to_read(files)}
    commit = hashlib.sha1(repr(sorted(blobs.items())).encode()).hexdigest()
    return Snapshot(commit=commit, blobs=blobs, contents=contents)


def host_running(stacks: Stacks) -> dict[str, tuple[Container, ...]]:
    return {
        stack.project: tuple(
            Container(each.name, "exited", 0) if each.one_shot else Container(each.name, "running")
            for each in stack.services
            if each.expected
        )
        for stack in stacks.valid.values()
        if stack.role is Role.DEPLOY
    }


def median_seconds(runs: int, work: Callable[[], object], before: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        before()
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(count: int, runs: int) -> dict[str, float]:
    local_files = repository(count)
    local_snapshot = snapshot(local_files)
    paths = sorted({path.rsplit("/", 1)[0] for path in files_to_read(local_files)})
    remote_snapshot = snapshot(successor(local_files, paths))

    parsing = parse_cache()
    cold = median_seconds(
        runs, lambda: stacks_of(local_snapshot, "infra", parsing), before=parsing.clear
    )
    warm = median_seconds(
        runs, lambda: stacks_of(local_snapshot, "infra", parsing), before=lambda: None
    )

    local = stacks_of(local_snapshot, "infra", parsing)
    remote = stacks_of(remote_snapshot, "infra", parsing)
    if len(local.valid) != count or local.broken:
        raise SystemExit(f"expected {count} valid stacks, found {len(local.valid)}")
    statuses = {
        path: StackStatus(stack.project, Status.OK, fingerprint=stack.fingerprint)
        for path, stack in local.valid.items()
    }
    facts = Facts(
        local=local,
        remote=remote,
        branch="main",
        remote_descends=True,
        host=host_running(local),
        full_pass=True,
        statuses=statuses,
        now=1_000_000.0,
    )
    found = plan(facts).unwrap()
    planning = median_seconds(runs * 3, lambda: plan(facts), before=lambda: None)
    verbs: dict[str, int] = {}
    for action in found.stack_actions:
        verbs[action.verb.value] = verbs.get(action.verb.value, 0) + 1
    print(
        f"{count:>6} stacks ({len(local_files)} files): plan has "
        + ", ".join(f"{n} {verb}" for verb, n in sorted(verbs.items()))
    )
    return {"stacks_of cold": cold, "stacks_of warm": warm, "plan": planning}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    sizes = [int(each) for each in args.sizes.split(",")]
    results = {size: measure(size, args.runs) for size in sizes}
    print()
    print(f"{'median of runs':<16}" + "".join(f"{size:>12,}" for size in sizes) + "   ratio")
    for name in results[sizes[0]]:
        row = [results[size][name] for size in sizes]
        ratio = f"{row[-1] / row[0]:8.1f}x" if len(sizes) > 1 else ""
        print(f"{name:<16}" + "".join(f"{value * 1000:>10.1f}ms" for value in row) + ratio)
    largest = results[sizes[-1]]["plan"]
    verdict = "within" if largest < GOAL_SECONDS else "OVER"
    print(f"plan for {sizes[-1]:,} stacks: {largest * 1000:.1f} ms ({verdict} the 100 ms goal)")
    return 0 if largest < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
