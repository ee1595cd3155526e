"""`make demo`'s script end to end: scripts/demo.sh demo, then scripts/demo.sh clean.

The demo runs in its own directory and under its own repository subdirectory
(GITOPS_DEMO_SUBDIR), so its project names cannot meet those of a demo someone left running
on this engine; clean must remove exactly what it made and leave a bystander alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from .harness import IMAGE_V1, PROJECT_LABEL, REPO_ROOT, WORKING_DIR_LABEL

DEMO_SCRIPT = REPO_ROOT / "scripts" / "demo.sh"


def docker_lines(docker: str, *args: str) -> list[str]:
    done = subprocess.run([docker, *args], capture_output=True, text=True, timeout=60, check=True)
    return [line for line in done.stdout.splitlines() if line.strip()]


def containers_under(docker: str, directory: Path) -> list[str]:
    """Names of the containers Compose made from a project directory below `directory`."""
    rows = docker_lines(
        docker,
        "ps",
        "--all",
        "--format",
        f'{{{{.Names}}}}\t{{{{.Label "{WORKING_DIR_LABEL}"}}}}',
    )
    prefix = f"{directory}/"
    return [
        name for name, _, where in (row.partition("\t") for row in rows) if where.startswith(prefix)
    ]


def labelled(docker: str, kind: str, projects: list[str]) -> list[str]:
    """Ids of the containers, networks or volumes (`kind`) of these compose projects."""
    every = ["--all"] if kind == "container" else []
    found = []
    for project in projects:
        found += docker_lines(
            docker, kind, "ls", *every, "--quiet", "--filter", f"label={PROJECT_LABEL}={project}"
        )
    return found


def demo(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEMO_SCRIPT), command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_demo_deploys_changes_and_clean_removes_only_its_own(
    engine: str, pyz: Path, tmp_path: Path
) -> None:
    demo_dir = (tmp_path / "demo").resolve()
    subdir = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GITOPS_DEMO_DIR": str(demo_dir),
        "GITOPS_DEMO_SUBDIR": subdir,
        "PYTHON": sys.executable,
        # The run's one build of this checkout (see the pyz fixture), not a second one.
        "GITOPS_DEMO_PYZ": str(pyz),
    }
    production = f"{subdir}-my_app-production"
    staging = f"{subdir}-my_app-staging"
    proxy = f"{subdir}-reverse_proxy"
    bystander = f"demo-bystander-{uuid.uuid4().hex[:8]}"
    # Not the demo's, though named like one of its projects: clean must not touch it.
    subprocess.run(
        [engine, "run", "--detach", "--name", bystander, "--network", "none",
         "--label", f"{PROJECT_LABEL}={production}-bystander",
         IMAGE_V1, "sleep", "600"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    try:
        done = demo("demo", env)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output

        # The first check started the three deployable stacks and left the other two alone.
        first = output.split("==> First check", 1)[1].split("==> A change is pushed", 1)[0]
        for project in (production, staging, proxy):
            assert f"project={project} action=start" in first, first
            assert re.search(rf"\b{project}\s+ok\s", first), first
        assert f"skip     {subdir}/gitops (controller)" in output
        assert f"skip     {subdir}/sandbox (ignored)" in output
        # The pushed change: planned (plan exits 1), then carried out by the second check.
        assert "(plan exited 1)" in output
        second = output.split("==> Second check", 1)[1]
        assert f"project={staging} action=stop" in second, second
        assert f"project={production} action=restart" in second, second
        assert f"project={proxy} action=restart" in second, second
        assert "check outcome=ok" in second
        assert "Hello again from production" in second
        assert "proxy started on image version 2" in second
        assert "gitops_check_success_total 2.0" in second
        assert "gitops_deployment_error_total 0.0" in second
        assert f'gitops_stack_status{{project="{production}"' in second

        running = containers_under(engine, demo_dir)
        assert sorted(running) == sorted(
            [f"{production}-migrate-1", f"{production}-web-1", f"{proxy}-proxy-1"]
        ), running
        # A removed stack keeps its volumes; the proxy's named volume is there too.
        assert labelled(engine, "volume", [proxy]), "the proxy's named volume is missing"
    finally:
        cleaned = demo("clean", env)
        try:
            assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
            projects = [production, staging, proxy]
            assert containers_under(engine, demo_dir) == []
            assert labelled(engine, "container", projects) == []
            assert labelled(engine, "network", projects) == []
            assert labelled(engine, "volume", projects) == []
            assert not demo_dir.exists()
            inspect = docker_lines(
                engine, "inspect", "--format", "{{json .State.Running}}", bystander
            )
            assert json.loads(inspect[0]) is True, "clean stopped a container not of the demo"
        finally:
            subprocess.run(
                [engine, "rm", "--force", bystander], capture_output=True, check=False, timeout=60
            )
