"""The one file users copy, doing the main job under every CPython >= 3.11 on this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..pyz_build import Interpreter, pyz_interpreters
from .harness import IMAGE_V2, World, stack_yaml
from .test_reconcile import running

pytestmark = pytest.mark.pyz


@pytest.mark.parametrize("interpreter", pyz_interpreters(), ids=lambda i: i.label)
def test_once_deploys_from_the_one_file(
    world: World, pyz: Path, interpreter: Interpreter, tmp_path: Path
) -> None:
    app = world.name("app")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app")
    env = world.env({"GITOPS_CACHE_DIR": str(tmp_path / "cache")})
    command = [interpreter.executable, str(pyz), "--repo", str(world.host), "--once"]

    first = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert first.returncode == 0, first.stderr
    assert running(world, app)

    world.pusher.write(f"{app}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.commit_and_push("app on v2")
    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert second.returncode == 0, second.stderr
    assert f"changed: {app}/compose.yaml" in second.stderr
    assert world.exec(app, "app", "cat /VERSION").strip() == "2"
