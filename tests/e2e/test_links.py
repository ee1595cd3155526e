"""Symbolic links out of the repository, with real git and the real engine: Compose follows
them; plan and the check's log name each one and what it points at."""

from __future__ import annotations

import json
import uuid

from .harness import World, stack_yaml
from .test_reconcile import events, once


def test_links_out_of_the_repository_are_named_by_plan_and_the_log(world: World) -> None:
    # The host's own files, outside git, as an operator keeps secrets and data.
    kept = world.tmp / "kept-on-the-host"
    (kept / "data").mkdir(parents=True)
    (kept / "app.env").write_text("GREETING=from-the-host\n")
    (kept / "data" / "seed.txt").write_text("host data\n")
    project, quiet = f"links-{uuid.uuid4().hex[:8]}", f"quiet-{uuid.uuid4().hex[:8]}"
    world.pusher.write(
        "app/compose.yaml",
        stack_yaml("sleep 3600", extra="env_file: app.env\nvolumes: ['./data:/data:ro']")
        + f"name: {project}\n",
    )
    world.pusher.link("app/app.env", str(kept / "app.env"))
    world.pusher.link("app/data", str(kept / "data"))
    # A link that stays in the repository is fine and says nothing.
    world.pusher.write("shared/app.env", "GREETING=from-git\n")
    world.pusher.write(
        "quiet/compose.yaml", stack_yaml(extra="env_file: app.env") + f"name: {quiet}\n"
    )
    world.pusher.link("quiet/app.env", "../shared/app.env")
    # Not used by any stack: silent too.
    world.pusher.link("notes/passwd", "/etc/passwd")
    world.pusher.commit_and_push("stacks with links")

    text = world.run("plan")
    assert text.returncode == 1, text.stderr  # two stacks to start; warnings change nothing
    warnings = [line for line in text.stdout.splitlines() if line.startswith("warning")]
    assert warnings == [
        f"warning  app (app/app.env is a symbolic link to {kept}/app.env, outside the repository)",
        f"warning  app (app/data is a symbolic link to {kept}/data, outside the repository)",
    ]

    document = json.loads(world.run("plan", "--format", "json").stdout)
    assert [(w["stack"], w["project"], w["link"], w["target"]) for w in document["warnings"]] == [
        ("app", project, "app/app.env", f"{kept}/app.env"),
        ("app", project, "app/data", f"{kept}/data"),
    ]

    done = once(world)
    assert done.returncode == 0, done.stderr
    logged = [e for e in events(done) if e["event"] == "link"]
    assert [(e["level"], e["stack"], e["link"], e["target"]) for e in logged] == [
        ("warning", "app", "app/app.env", f"{kept}/app.env"),
        ("warning", "app", "app/data", f"{kept}/data"),
    ]
    # Allowed: Compose read the host's files through the links.
    assert world.exec(project, "app", "echo $GREETING; cat /data/seed.txt").split() == [
        "from-the-host",
        "host",
        "data",
    ]
    assert world.exec(quiet, "app", "echo $GREETING").strip() == "from-git"

    # In sync, the warnings still stand, and plan says so with exit 0.
    again = world.run("plan")
    assert again.returncode == 0, again.stderr
    assert "warning  app (app/app.env is a symbolic link to" in again.stdout
    assert "in sync at" in again.stdout
