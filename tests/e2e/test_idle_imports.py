"""An idle check of deployed stacks, on the real engine, loads none of the features it
does not reach (see shell/features and tests/shell/test_features.py)."""

from __future__ import annotations

import re

from tests.shell.test_features import FLOOR, loaded_by, unwanted

from .harness import World, stack_yaml
from .test_reconcile import once

_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", re.MULTILINE)


def test_an_idle_check_of_deployed_stacks_loads_only_what_it_needs(world: World) -> None:
    app, web = world.names("app", "web")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.write(f"{web}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app and web")
    assert once(world).returncode == 0
    world.clear_calls()

    idle = world.run("--once", "--no-metrics", env={"PYTHONPROFILEIMPORTTIME": "1"})

    assert idle.returncode == 0, idle.stderr
    assert [each.split()[0] for each in world.docker_calls()] == ["ps"]
    loaded = set(_IMPORTED.findall(idle.stderr))
    assert "gitops_compose.core.reconcile.looking" in loaded
    assert unwanted(loaded, loaded_by(FLOOR)) == set()
