"""Push to running container: a signed webhook against polling.

    python bench/webhook.py [--rounds N]

On the real engine (scripts/engine.sh), a daemon with ``--interval 3600`` follows a
one-service stack. Each round changes the stack's ``.env``, pushes, sends the push's
webhook signed as GitHub does, and times from the push until the new container runs. The
goal: under 2 s. Polling is shown beside it as what it costs by construction: half an
interval on average, a whole one at worst.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import World, engine_problem, metric_samples, stack_yaml  # noqa: E402

GOAL = 2.0
SECRET = b"bench-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hook(port: int) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", body, headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 202


def running_id(world: World) -> str | None:
    try:
        found = world.containers("app")
    except RuntimeError:
        return None  # a container went away between listing and inspecting: recreated
    return found[0]["id"] if len(found) == 1 and found[0]["state"] == "running" else None


def wait_for_new(world: World, old: str | None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new = running_id(world)
        if new is not None and new != old:
            return
        time.sleep(0.02)
    raise SystemExit("the new container did not run within a minute")


def checks(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        samples = metric_samples(reply.read().decode())
    return samples["gitops_check_success_total"] + samples["gitops_check_error_total"]


def wait_for_checks(port: int, count: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if checks(port) >= count:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)
    raise SystemExit(f"the daemon did not end check {count} within {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    problem = engine_problem()
    if problem is not None:
        print(f"bench/webhook.py: {problem}", file=sys.stderr)
        return 2
    docker = shutil.which("docker")
    assert docker is not None
    port = free_port()
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gitops-bench-webhook-") as tmp:
        world = World(Path(tmp), docker)
        world.pusher.write("app/compose.yaml", stack_yaml())
        world.pusher.write("app/.env", "REVISION=0\n")
        world.pusher.commit_and_push("app")
        env = world.env({"GITOPS_WEBHOOK_SECRET": SECRET.decode()})
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "gitops_compose", "--repo", str(world.host)]
        daemon = subprocess.Popen(
            [*command, "--interval", "3600", "--metrics-addr", f"127.0.0.1:{port}"],
            env=env,
            cwd=world.tmp,  # `python -m` would import a package in the cwd first
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_checks(port, 1)
            for revision in range(1, options.rounds + 1):
                old = running_id(world)
                world.pusher.write("app/.env", f"REVISION={revision}\n")
                start = time.perf_counter()
                world.pusher.commit_and_push(f"revision {revision}")
                hook(port)
                wait_for_new(world, old)
                times.append(time.perf_counter() - start)
                # The check goes on through the health gate's settle window: the next
                # round starts once it is over, from an idle daemon.
                wait_for_checks(port, revision + 1)
        finally:
            daemon.terminate()
            _, stderr = daemon.communicate(timeout=60)
            world.cleanup()
            if daemon.returncode != 0 or not times:
                print(stderr, file=sys.stderr)
    print(f"push -> running container of a one-service stack, {options.rounds} rounds")
    print(
        f"  webhook (--interval 3600)  median {statistics.median(times):5.2f} s"
        f"  min {min(times):5.2f} s  max {max(times):5.2f} s"
    )
    for interval in (60, 300):
        print(
            f"  polling --interval {interval:<6} {interval / 2:5.1f} s on average, "
            f"{interval} s at worst, plus the same deploy"
        )
    print(f"  goal: webhook under {GOAL} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
