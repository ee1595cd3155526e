"""A check with nothing to do loads no planning, scheduling, gate or settling code.

The modules are arranged for it (core/reconcile/looking.py holds the stages up to "nothing
to do"); this drives the real loop (shell/check.run_check) through small doubles of the
repository and the host in a fresh interpreter, where no other test's imports count, and
looks at ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Loaded by a check that has work; never by one that has none. (The values a check with
# work passes around, action and outcome, are small modules of their own: the shell's
# adapters import them at their top.)
NOT_WHEN_IDLE = (
    "gitops_compose.core.reconcile.plan",
    "gitops_compose.core.reconcile.order",
    "gitops_compose.core.reconcile.schedule",
    "gitops_compose.core.reconcile.gate",
    "gitops_compose.core.reconcile.verdict",
    "gitops_compose.core.reconcile.transition",
    "gitops_compose.core.reconcile.image_update",
    "gitops_compose.core.reconcile.planning",
    "gitops_compose.core.reconcile.running",
    "gitops_compose.core.reconcile.settling",
    "gitops_compose.core.compose.stack",
    "gitops_compose.core.compose.compose_file",
)

CHECK = """
import json, sys
from returns.result import Success
from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.check import CheckSettings, Heads
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell.check import run_check
from gitops_compose.shell.yaml_parser import parse_cache

HEAD = "c" * 40
REMOTE = sys.argv[1]

class Repository:
    name = "repo"
    def check_branch(self): return Success(None)
    def dirty_paths(self): return []
    def fetch(self): return Success(Heads(HEAD, REMOTE, True))
    def snapshot(self, commit):
        from gitops_compose.core.compose.snapshot import Snapshot
        return Snapshot(commit=commit, blobs={})
    def fast_forward(self, target): return Success(None)
    def blobs(self, ids): return {}

class Host:
    def compose_problem(self): return None
    def state(self): return Success({"web": (Container("web", "running"),)})

web = StackStatus(
    "web", Status.OK, fingerprint="f1", commit=HEAD, expects=Expectation(services=("web",))
)
state = State(full_pass_done=True, stacks={"web": web}, settled_commit=HEAD)
report = run_check(
    Repository(), Host(), state, CheckSettings("main", "repo", parsing=parse_cache()),
    now=lambda: 1000.0, reporters=(),
)
loaded = sorted(name for name in sys.modules if name.startswith("gitops_compose"))
print(json.dumps({"ok": report.ok, "plan": report.plan is not None, "loaded": loaded}))
"""


def run(remote: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, remote],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_an_idle_check_imports_no_planning_scheduling_gate_or_settling_module() -> None:
    idle = run("c" * 40)

    assert idle["ok"] is True
    assert idle["plan"] is False
    loaded = idle["loaded"]
    assert isinstance(loaded, list)
    assert "gitops_compose.core.reconcile.looking" in loaded
    assert [name for name in NOT_WHEN_IDLE if name in loaded] == []


def test_a_check_with_a_new_commit_does_import_them() -> None:
    """The control: the same doubles with a remote that moved plan, so the modules above
    are what a check with work loads."""
    moved = run("d" * 40)

    assert moved["plan"] is True
    loaded = moved["loaded"]
    assert isinstance(loaded, list)
    assert [name for name in NOT_WHEN_IDLE if name not in loaded] == []


def test_the_reconcile_modules_import_at_their_top_but_for_the_one_door_to_the_work() -> None:
    """The import graph is what the modules say at their top: the only import made in a
    function is where an idle check's modules end and a working check's begin."""
    package = ROOT / "gitops_compose" / "core" / "reconcile"
    late = []
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    late.append((path.name, function.name, node.module))
                elif isinstance(node, ast.Import):
                    late += [(path.name, function.name, each.name) for each in node.names]

    assert late == [("looking.py", "onward", "gitops_compose.core.reconcile.planning")]
