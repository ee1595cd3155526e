"""Status tells the truth about the host: containers removed or killed behind the tool's
back show in ``status``, ``plan`` and the metrics, on the real engine."""

from __future__ import annotations

import json
import uuid

from .harness import World, metric_samples, stack_yaml
from .test_reconcile import once, stack_commands


def by_stack(world: World) -> dict[str, dict[str, object]]:
    done = world.run("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {entry["stack"]: entry for entry in json.loads(done.stdout)["stacks"]}


def test_removed_and_killed_containers_show_everywhere_until_they_run_again(
    world: World,
) -> None:
    # Paths of this test's own, so that no other test's project shares their names.
    suffix = uuid.uuid4().hex[:6]
    gone, killed, fine = f"gone{suffix}", f"killed{suffix}", f"fine{suffix}"
    for path in (gone, killed, fine):
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("three stacks")
    metrics = world.tmp / "gitops.prom"
    first = once(world, "--metrics-file", str(metrics))
    assert first.returncode == 0, first.stderr

    world.docker("rm", "-f", *[c["id"] for c in world.containers(gone)])
    world.docker("kill", *[c["id"] for c in world.containers(killed)])
    world.clear_calls()

    checked = once(world, "--metrics-file", str(metrics))

    # Not started again (no --self-heal, nothing changed), but not called ok either.
    assert stack_commands(world) == []
    assert checked.returncode == 1, checked.stderr
    assert "Traceback" not in checked.stderr
    stacks = by_stack(world)
    assert stacks[gone]["status"] == "not_running"
    assert stacks[gone]["running"] is False
    assert stacks[gone]["not_running"] == "no containers"
    assert stacks[killed]["status"] == "not_running"
    assert stacks[killed]["not_running"] == "app exited 137"
    assert stacks[fine]["status"] == "ok"
    assert stacks[fine]["running"] is True
    text = world.run("status")
    assert "not running: no containers" in _line(text.stdout, gone)

    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_running{{project={gone},stack={gone}}}"] == 0
    assert samples[f"gitops_stack_running{{project={killed},stack={killed}}}"] == 0
    assert samples[f"gitops_stack_running{{project={fine},stack={fine}}}"] == 1
    assert samples["gitops_deployment_active_total{status=not_running}"] == 2
    assert samples["gitops_deployment_active_total{status=ok}"] == 1

    planned = world.run("plan", "--format", "json")
    assert planned.returncode == 1, planned.stderr
    document = json.loads(planned.stdout)
    assert document["in_sync"] is False
    entries = {entry["stack"]: entry for entry in document["stacks"]}
    assert entries[gone]["action"] == "drift"
    assert entries[gone]["reason"].startswith("not running: no containers")
    assert entries[killed]["action"] == "drift"
    assert fine not in entries
    assert "drift    " + gone in world.run("plan").stdout

    healed = once(world, "--self-heal", "--metrics-file", str(metrics))
    assert healed.returncode == 0, healed.stderr
    stacks = by_stack(world)
    assert {stacks[path]["status"] for path in (gone, killed, fine)} == {"ok"}
    samples = metric_samples(metrics.read_text())
    assert samples[f"gitops_stack_running{{project={gone},stack={gone}}}"] == 1
    assert world.run("plan").returncode == 0


def _line(text: str, stack: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(stack + " "))


def test_once_exits_1_while_a_stack_waits_for_its_retry(world: World) -> None:
    path = f"broken{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image="127.0.0.1:5000/x/none:1"))
    world.pusher.commit_and_push("a stack whose image is missing")
    assert once(world).returncode == 1
    world.clear_calls()

    again = once(world)

    # The retry is not due yet: nothing is tried, and cron still hears that it is broken.
    assert stack_commands(world) == []
    assert again.returncode == 1, again.stderr
    assert by_stack(world)[path]["status"] == "error"
