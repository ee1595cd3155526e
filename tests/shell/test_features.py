"""An idle check loads none of the features it never reaches (see shell/features): the seam
holds. tests/e2e/test_idle_imports.py asks the same of an idle check of deployed stacks on
the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from build_pyz.archive import ON_DEMAND
from tests.shell.test_cli import cloned_repository, docker_without_compose

# Our modules an idle check never needs: each is loaded through shell/features, or by the
# part of a check that acts (planning, running, settling and what they import).
NOT_OURS_TO_LOAD = frozenset(
    {
        "gitops_compose.shell.swarm_host",
        "gitops_compose.core.compose.swarm_support",
        "gitops_compose.shell.daemon",
        "gitops_compose.shell.status_page",
        "gitops_compose.shell.metrics",
        "gitops_compose.shell.webhook",
        "gitops_compose.shell.sync",
        "gitops_compose.shell.subcommands",
        "gitops_compose.shell.notifier",
        "gitops_compose.shell.commit_statuses",
        "gitops_compose.shell.registry",
        "gitops_compose.shell.decryption",
        "gitops_compose.shell.sops",
        "gitops_compose.core.compose.secret_file",
        "gitops_compose.core.compose.compose_file",
        "gitops_compose.core.reconcile.planning",
        "gitops_compose.core.reconcile.plan",
        "gitops_compose.core.reconcile.verdict",
        "gitops_compose.core.reconcile.image_update",
        "gitops_compose.core.reconcile.transition",
        "gitops_compose.core.reconcile.report",
        "gitops_compose.core.reconcile.forge",
    }
)
# The standard library's and others' modules that only those features use.
NOT_TO_LOAD = frozenset(
    {"concurrent.futures", "html", "socket", "http.server", "urllib.request", "yaml"}
)
NOT_TO_LOAD |= {"prometheus_client"}
# What gitops.pyz unpacks only when one of them is imported (see build_pyz.archive).
NOT_TO_LOAD |= set(ON_DEMAND)
# What the floor of a check loads itself: no check can do without these.
FLOOR = "import pygit2, returns.result, logging, docopt"


def loaded_by(code: str, env: dict[str, str] | None = None) -> frozenset[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    listing = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", listing],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return frozenset(done.stdout.split())


def unwanted(loaded: Iterable[str], floor: frozenset[str]) -> set[str]:
    """What of ``loaded`` an idle check should not have loaded."""
    stdlib = {each for each in NOT_TO_LOAD if each not in floor}
    return {
        each
        for each in loaded
        if each in NOT_OURS_TO_LOAD or each in stdlib or each.split(".")[0] in stdlib
    }


def idle_check_modules(tmp_path: Path) -> frozenset[str]:
    """The modules a second --once loads on a clone with nothing new, in a process of its
    own; the first check, a full pass, took what there was to take."""
    host = cloned_repository(tmp_path, {"README.md": "no stacks yet\n"})
    env = {
        **os.environ,
        "PATH": docker_without_compose(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    check = ["--repo", str(host), "--once", "--no-metrics"]
    first = subprocess.run(
        [sys.executable, "-m", "gitops_compose", *check],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    code = (
        "from gitops_compose.shell.cli import main\n"
        f"assert main({check!r}) == 0\n"
        "import gitops_compose.shell.compose_host  # the check did look at the host\n"
    )
    return loaded_by(code, env)


def test_an_idle_check_loads_none_of_the_features_it_does_not_reach(tmp_path: Path) -> None:
    loaded = idle_check_modules(tmp_path)
    assert "gitops_compose.core.reconcile.looking" in loaded  # it did check
    assert unwanted(loaded, loaded_by(FLOOR)) == set()


def test_the_pin_fails_when_a_feature_is_loaded() -> None:
    """The test above would see a feature loaded on the way of a check."""
    floor = loaded_by(FLOOR)
    found = unwanted(loaded_by("import gitops_compose.shell.daemon"), floor)
    assert {"gitops_compose.shell.status_page", "gitops_compose.shell.metrics"} <= found
    assert "html" in found or "html" in floor
    found = unwanted(loaded_by("import gitops_compose.shell.decryption"), floor)
    assert {"gitops_compose.shell.sops", "gitops_compose.core.compose.secret_file"} <= found


def test_each_feature_is_loaded_through_the_seam() -> None:
    """What the seam names loads: a renamed module fails here, not on a user's host."""
    code = (
        "from gitops_compose.shell import features\n"
        "for name in ('plan', 'status', 'retry', 'accept-remote', 'sync', 'notify-test'):\n"
        "    assert callable(features.command(name))\n"
        "assert features.swarm_problem('/nonexistent/docker') is not None\n"
        "features.registry_client('/nonexistent/docker')\n"
    )
    loaded = loaded_by(code)
    assert {"gitops_compose.shell.subcommands", "gitops_compose.shell.swarm_host"} <= loaded
    assert "gitops_compose.shell.registry" in loaded
