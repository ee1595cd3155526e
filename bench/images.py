"""An image check of 50 stacks whose digests did not change, against an idle check.

    python bench/images.py [--runs N] [--stacks N]

Pushes three tags of its own to the local registry (127.0.0.1:5000), deploys N one-service
stacks that use them in turn and follow their images, then times, interleaved so that both
see the same machine load:

  image check   `python -m gitops_compose --once --image-updates --image-interval 1`: the
                registries asked about each distinct tag, the images running read
  idle check    the same with `--image-interval 3600`: between two image checks

and counts the registry requests each image check made, at the registry (its access log,
``$GITOPS_ENGINE_DIR/registry.log``), with the compose commands each ran (none: nothing
changed). Cleans up the stacks and local tags it made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import IMAGE_V1, World, engine_problem, stack_yaml  # noqa: E402

REGISTRY_LOG = Path(os.environ.get("GITOPS_ENGINE_DIR", "/var/tmp/gitops-engine")) / "registry.log"
TAGS = 3


def timed(command: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def requests_since(mark: int, paths: Sequence[str]) -> int:
    """Lines of the registry's access log since byte ``mark`` about these repositories."""
    with REGISTRY_LOG.open("rb") as log:
        log.seek(mark)
        text = log.read().decode(errors="replace")
    return sum(1 for line in text.splitlines() if any(f"/v2/{p}/" in line for p in paths))


def untag(world: World, images: Sequence[str]) -> None:
    """Remove the local tags made, and the repository digests Docker recorded for them."""
    for image in images:
        world.docker("image", "rm", image, check=False)
        name = image.rsplit(":", 1)[0]
        listed = world.docker("image", "ls", "--digests", "--format", "{{.Digest}}", name)
        for digest in listed.stdout.split():
            world.docker("image", "rm", f"{name}@{digest}", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stacks", type=int, default=50)
    options = parser.parse_args()
    problem = engine_problem()
    if problem is not None:
        print(f"bench/images.py: {problem}", file=sys.stderr)
        return 2
    docker = shutil.which("docker")
    assert docker is not None
    tag = uuid.uuid4().hex[:6]
    paths = [f"gitops-test/bench-images{index}-{tag}" for index in range(TAGS)]
    images = [f"127.0.0.1:5000/{path}:latest" for path in paths]
    samples: dict[str, list[float]] = {"image check": [], "idle check": []}
    asked: list[int] = []
    compose_calls = 0
    with tempfile.TemporaryDirectory(prefix="gitops-bench-images-") as tmp:
        world = World(Path(tmp), docker, tag)
        try:
            for image in images:
                world.docker("tag", IMAGE_V1, image)
                world.docker("push", "-q", image)
            for n in range(options.stacks):
                text = stack_yaml(image=images[n % TAGS])
                world.pusher.write(f"images{n:02d}/compose.yaml", text)
            world.pusher.commit_and_push("stacks")
            first = world.run("--once", "--no-metrics", "--jobs", "8", timeout=900)
            if first.returncode != 0:
                print(first.stderr, file=sys.stderr)
                return 1
            env = world.env()
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            check = [sys.executable, "-m", "gitops_compose", "--repo", str(world.host)]
            check += ["--once", "--no-metrics", "--image-updates"]
            commands = {
                "image check": [*check, "--image-interval", "1"],
                "idle check": [*check, "--image-interval", "3600"],
            }
            timed(commands["image check"], env, world.tmp)  # warm-up, and the first state
            for _ in range(options.runs):
                time.sleep(1.1)  # the image interval passes
                world.clear_calls()
                mark = REGISTRY_LOG.stat().st_size
                samples["image check"].append(timed(commands["image check"], env, world.tmp))
                asked.append(requests_since(mark, paths))
                compose_calls += sum(1 for c in world.docker_calls() if c.startswith("compose"))
                samples["idle check"].append(timed(commands["idle check"], env, world.tmp))
        finally:
            world.cleanup()
            untag(world, images)
    checking, idle = (statistics.median(samples[name]) for name in ("image check", "idle check"))
    print(
        f"image check, {options.stacks} stacks on {TAGS} tags, digests unchanged, median of "
        f"{options.runs} runs"
    )
    print(f"  image check  {checking * 1000:7.1f} ms  {checking / idle:.2f}x the idle check")
    print(f"  idle check   {idle * 1000:7.1f} ms")
    print(
        f"  registry requests per image check: {max(asked)} at most ({min(asked)} at least);"
        f" compose commands: {compose_calls}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
