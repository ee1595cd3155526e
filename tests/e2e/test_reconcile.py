"""The product's job end to end: real dockerd, real docker compose v2, real git repositories."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from .harness import IMAGE_V1, IMAGE_V2, MISSING_IMAGE, World, metric_samples, stack_yaml


def layout(world: World) -> tuple[str, ...]:
    """Four stacks of this test: app, my_app/production, my_app/staging, other/production."""
    app, my_app, other = world.names("app", "my_app", "other")
    return (app, f"{my_app}/production", f"{my_app}/staging", f"{other}/production")


def events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]


def once(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return world.run("--once", "--log-format", "json", *args)


def stack_events(done: subprocess.CompletedProcess[str], stack: str) -> list[dict[str, Any]]:
    return [e for e in events(done) if e["event"] == "stack" and e["stack"] == stack]


def statuses(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {e["stack"]: e["status"] for e in events(done) if e["event"] == "status"}


def stack_commands(world: World) -> list[str]:
    """Compose calls that act on stacks: the `compose version` probe and `config --hash`
    (what configuration the files give) only read."""
    return [
        call
        for call in world.compose_calls()
        if not call.startswith("compose version") and " config --hash " not in f"{call} "
    ]


def ids(world: World, project: str) -> list[str]:
    return [c["id"] for c in world.containers(project) if c["state"] == "running"]


def running(world: World, project: str) -> bool:
    found = world.containers(project)
    return bool(found) and all(c["state"] == "running" for c in found)


def deploy_layout(world: World) -> tuple[str, ...]:
    paths = layout(world)
    for path in paths:
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("stacks")
    assert once(world).returncode == 0
    return paths


def test_first_run_starts_every_stack_as_its_own_project(world: World) -> None:
    world.pusher.write("compose.yaml", stack_yaml())
    app, production, staging, other = layout(world)
    for path in (app, production, staging, other):
        world.pusher.write(f"{path}/compose.yaml", stack_yaml())
    world.pusher.write(f"{production}/.env", "GREETING=hello\n")
    world.pusher.commit_and_push("five stacks")

    done = once(world)

    assert done.returncode == 0, done.stderr
    my_app, other_name = world.names("my_app", "other")
    projects = [
        world.host.name,
        app,
        f"{my_app}-production",
        f"{my_app}-staging",
        f"{other_name}-production",
    ]
    for project in projects:
        assert running(world, project), project
    assert world.projects() >= set(projects)


def test_edit_of_one_compose_file_recreates_only_that_stack(world: World) -> None:
    paths = deploy_layout(world)
    app, production, staging, other = paths
    before = {path: ids(world, path.replace("/", "-")) for path in paths}

    world.pusher.write(f"{staging}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.commit_and_push("staging sleeps longer")
    done = once(world)

    assert done.returncode == 0, done.stderr
    after = {path: ids(world, path.replace("/", "-")) for path in paths}
    assert after[staging] != before[staging]
    assert after[staging]
    for path in (app, production, other):
        assert after[path] == before[path], path
    [restart] = stack_events(done, staging)
    assert restart["action"] == "restart"
    assert restart["reason"] == f"changed: {staging}/compose.yaml"


def test_edit_of_only_env_or_mounted_config_takes_effect_in_the_container(world: World) -> None:
    my_app = world.name("my_app")
    production, staging = f"{my_app}/production", f"{my_app}/staging"
    world.pusher.write(
        f"{production}/compose.yaml",
        stack_yaml(
            extra="""
            environment:
              GREETING: ${GREETING}
            volumes:
              - ./config/site.conf:/site.conf:ro
            """
        ),
    )
    world.pusher.write(f"{production}/.env", "GREETING=hello\n")
    world.pusher.write(f"{production}/config/site.conf", "listen 80\n")
    world.pusher.write(f"{staging}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app with env and config")
    assert once(world).returncode == 0
    staging_ids = ids(world, f"{my_app}-staging")

    world.pusher.write(f"{production}/.env", "GREETING=bonjour\n")
    world.pusher.commit_and_push("new greeting")
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert world.exec(f"{my_app}-production", "app", "echo $GREETING").strip() == "bonjour"
    [restart] = stack_events(done, production)
    assert restart["reason"] == f"changed: {production}/.env"

    world.pusher.write(f"{production}/config/site.conf", "listen 8080\n")
    world.pusher.commit_and_push("new port")
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert world.exec(f"{my_app}-production", "app", "cat /site.conf").strip() == "listen 8080"
    assert ids(world, f"{my_app}-staging") == staging_ids


def test_edit_of_a_shared_env_file_recreates_only_the_stacks_naming_it(world: World) -> None:
    web, db = world.names("web", "db")
    world.pusher.write("shared/common.env", "GREETING=hello\n")
    world.pusher.write(f"{web}/compose.yaml", stack_yaml(extra="env_file: ../shared/common.env"))
    world.pusher.write(f"{db}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("web reads the shared env file")
    assert once(world).returncode == 0
    assert world.exec(web, "app", "echo $GREETING").strip() == "hello"
    db_ids = ids(world, db)

    world.pusher.write("shared/common.env", "GREETING=bonjour\n")
    world.pusher.commit_and_push("new shared greeting")
    done = once(world)

    assert done.returncode == 0, done.stderr
    assert world.exec(web, "app", "echo $GREETING").strip() == "bonjour"
    assert ids(world, db) == db_ids
    [restart] = stack_events(done, web)
    assert (restart["action"], restart["reason"]) == ("restart", "changed: shared/common.env")
    assert stack_events(done, db) == []


def test_stack_of_included_files_alone_is_deployed_and_follows_them(world: World) -> None:
    proxy = world.name("proxy")
    world.pusher.write(f"{proxy}/compose.yaml", "include:\n  - ../lib/proxy.yaml\n")
    world.pusher.write("lib/proxy.yaml", stack_yaml())
    world.pusher.commit_and_push("proxy from an included file")
    assert once(world).returncode == 0
    assert running(world, proxy)

    world.pusher.write("lib/proxy.yaml", stack_yaml("sleep 7200"))
    world.pusher.commit_and_push("proxy sleeps longer")
    done = once(world)

    assert done.returncode == 0, done.stderr
    [restart] = stack_events(done, proxy)
    assert restart["reason"] == "changed: lib/proxy.yaml"
    assert "sleep 7200" in world.exec(proxy, "app", "ps")

    # The included file's services are the stack's: stopped by hand, they are started again.
    world.docker("compose", "--project-name", proxy, "stop")
    healed = once(world, "--self-heal")
    assert healed.returncode == 0, healed.stderr
    [start] = stack_events(healed, proxy)
    assert start["action"] == "start"
    assert start["reason"].startswith("not running: app exited")
    assert running(world, proxy)


def test_stack_whose_compose_file_is_a_link_runs_its_target_with_its_own_env(
    world: World,
) -> None:
    production, staging = world.names("production", "staging")
    world.pusher.write(
        f"{production}/compose.yaml",
        stack_yaml(extra="environment:\n  GREETING: ${GREETING}"),
    )
    world.pusher.write(f"{production}/.env", "GREETING=prod\n")
    world.pusher.link(f"{staging}/compose.yaml", f"../{production}/compose.yaml")
    world.pusher.write(f"{staging}/.env", "GREETING=staging\n")
    world.pusher.commit_and_push("staging shares production's compose file")
    first = once(world)
    assert first.returncode == 0, first.stderr
    assert world.exec(staging, "app", "echo $GREETING").strip() == "staging"
    assert world.exec(production, "app", "echo $GREETING").strip() == "prod"

    world.pusher.write(
        f"{production}/compose.yaml",
        stack_yaml(image=IMAGE_V2, extra="environment:\n  GREETING: ${GREETING}"),
    )
    world.pusher.commit_and_push("image bump for both")
    done = once(world)

    assert done.returncode == 0, done.stderr
    for stack in (production, staging):
        [restart] = stack_events(done, stack)
        assert restart["reason"] == f"changed: {stack}/compose.yaml"
        assert world.exec(stack, "app", "cat /VERSION").strip() == "2"


def test_a_build_stack_runs_its_current_dockerfile_after_an_edit_and_a_return(world: World) -> None:
    api = world.name("api")
    world.pusher.write("src/Dockerfile", f"FROM {IMAGE_V1}\nENV BUILT=one\n")
    world.pusher.write(
        f"{api}/compose.yaml",
        "services:\n  app:\n    build: ../src\n    network_mode: none\n    init: true\n"
        "    command: [sleep, '3600']\n",
    )
    world.pusher.commit_and_push("api built from src")
    first = once(world)
    assert first.returncode == 0, first.stderr
    assert world.exec(api, "app", "echo $BUILT").strip() == "one"

    world.pusher.write("src/Dockerfile", f"FROM {IMAGE_V1}\nENV BUILT=two\n")
    world.pusher.commit_and_push("new build")
    done = once(world)

    assert done.returncode == 0, done.stderr
    [restart] = stack_events(done, api)
    assert restart["reason"] == "changed: src/Dockerfile"
    assert world.exec(api, "app", "echo $BUILT").strip() == "two"

    # Removed, the stack leaves its image behind; added again, it is built anew.
    compose_text = (world.pusher.path / f"{api}/compose.yaml").read_text()
    world.pusher.remove(api)
    world.pusher.commit_and_push("no api")
    assert once(world).returncode == 0
    world.pusher.write(f"{api}/compose.yaml", compose_text)
    world.pusher.write("src/Dockerfile", f"FROM {IMAGE_V1}\nENV BUILT=three\n")
    world.pusher.commit_and_push("api is back")
    back = once(world)
    assert back.returncode == 0, back.stderr
    assert world.exec(api, "app", "echo $BUILT").strip() == "three"


def test_removed_stack_is_brought_down_and_keeps_its_volume(world: World) -> None:
    db, app = world.names("db", "app")
    world.pusher.write(
        f"{db}/compose.yaml",
        stack_yaml(extra="volumes:\n  - data:/data", top="volumes:\n  data: {}"),
    )
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("db and app")
    assert once(world).returncode == 0
    world.exec(db, "app", "echo precious > /data/file")
    app_ids = ids(world, app)

    world.pusher.remove(db)
    world.pusher.commit_and_push("drop db")
    done = once(world)

    assert done.returncode == 0, done.stderr
    assert world.containers(db) == []
    assert world.volume_exists(f"{db}_data")
    assert ids(world, app) == app_ids
    [stop] = stack_events(done, db)
    assert (stop["action"], stop["reason"]) == ("stop", "removed from main")


def test_stack_stopped_by_hand_starts_again_on_the_next_remote_change(world: World) -> None:
    app = deploy_layout(world)[0]
    world.docker("compose", "--project-name", app, "stop")
    assert not running(world, app)

    world.pusher.write("README.md", "a change elsewhere\n")
    world.pusher.commit_and_push("docs")
    done = once(world)

    assert done.returncode == 0, done.stderr
    assert running(world, app)
    [start] = stack_events(done, app)
    assert start["reason"].startswith("not running: app exited")


def test_dirty_working_tree_touches_nothing_until_it_is_clean(world: World) -> None:
    app = deploy_layout(world)[0]
    head = world.host.joinpath(".git/HEAD").read_text()
    local = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=world.host, capture_output=True, text=True, check=True
    ).stdout
    world.host.joinpath(f"{app}/notes.txt").write_text("edited on the host\n")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.commit_and_push("change app")
    app_ids = ids(world, app)
    world.clear_calls()

    done = once(world)

    assert done.returncode == 1
    [check] = [e for e in events(done) if e["event"] == "check"]
    assert f"{app}/notes.txt" in check["error"]
    assert stack_commands(world) == []
    assert ids(world, app) == app_ids
    assert world.host.joinpath(".git/HEAD").read_text() == head
    now = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=world.host, capture_output=True, text=True, check=True
    ).stdout
    assert now == local
    assert world.host.joinpath(f"{app}/notes.txt").exists()

    world.host.joinpath(f"{app}/notes.txt").unlink()
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert ids(world, app) != app_ids


def test_unpullable_stack_fails_alone_and_the_fix_brings_it_up(world: World) -> None:
    good, bad = world.names("good", "bad")
    world.pusher.write(f"{good}/compose.yaml", stack_yaml())
    world.pusher.write(f"{bad}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push("good and bad")

    done = once(world)

    assert done.returncode == 1
    assert running(world, good)
    assert world.containers(bad) == []
    [failed] = stack_events(done, bad)
    assert failed["outcome"] == "error"
    assert "missing" in failed["error"]
    assert statuses(done) == {good: "ok", bad: "error"}

    world.pusher.write(f"{bad}/compose.yaml", stack_yaml(image=IMAGE_V2))
    world.pusher.commit_and_push("fix the image")
    done = once(world)
    assert done.returncode == 0, done.stderr
    assert running(world, bad)
    assert world.exec(bad, "app", "cat /VERSION").strip() == "2"


def test_failed_removal_is_removal_failed_and_the_rest_proceeds(world: World) -> None:
    old, keep, new = world.names("old", "keep", "new")
    world.pusher.write(f"{old}/compose.yaml", stack_yaml())
    world.pusher.write(f"{keep}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("two stacks")
    assert once(world).returncode == 0

    world.fail_down(old)
    world.pusher.remove(old)
    world.pusher.write(f"{new}/compose.yaml", stack_yaml())
    world.pusher.write(f"{keep}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.commit_and_push("drop old, add new, change keep")
    done = once(world)

    assert done.returncode == 1
    [stop] = stack_events(done, old)
    assert stop["outcome"] == "error"
    assert "injected failure" in stop["error"]
    assert statuses(done)[old] == "removal_failed"
    assert running(world, old)
    assert running(world, new)
    assert [e["outcome"] for e in stack_events(done, keep)] == ["ok"]


def test_controller_stack_is_never_stopped_or_restarted(world: World) -> None:
    gitops, app = world.names("gitops", "app")
    controller = stack_yaml(extra='labels:\n  gitops.controller: "true"')
    world.pusher.write(f"{gitops}/compose.yaml", controller)
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("controller and app")
    # The operator starts the tool's own stack; a check never does.
    world.docker(
        "compose",
        "--project-name",
        gitops,
        "--project-directory",
        str(world.pusher.path / gitops),
        "--file",
        str(world.pusher.path / f"{gitops}/compose.yaml"),
        "up",
        "--detach",
    )
    controller_ids = ids(world, gitops)
    assert once(world).returncode == 0

    world.pusher.write(
        f"{gitops}/compose.yaml",
        stack_yaml("sleep 7200", extra='labels:\n  gitops.controller: "true"'),
    )
    world.pusher.write(f"{gitops}/.env", "NEW=1\n")
    world.pusher.commit_and_push("change the controller")
    world.clear_calls()
    assert once(world).returncode == 0
    assert ids(world, gitops) == controller_ids

    world.pusher.remove(gitops)
    world.pusher.commit_and_push("remove the controller")
    assert once(world).returncode == 0
    assert ids(world, gitops) == controller_ids
    assert not [call for call in stack_commands(world) if gitops in call.split()]


def test_rewritten_remote_history_fails_early_and_touches_nothing(world: World) -> None:
    paths = deploy_layout(world)
    world.pusher.write(f"{paths[0]}/compose.yaml", stack_yaml("sleep 7200"))
    world.pusher.force_push_rewrite()
    before = {path: ids(world, path.replace("/", "-")) for path in paths}
    head = world.host.joinpath(".git/refs/heads/main").read_text()
    world.clear_calls()

    done = once(world)

    assert done.returncode == 1
    [check] = [e for e in events(done) if e["event"] == "check"]
    assert "not an ancestor" in check["error"]
    assert stack_commands(world) == []
    assert world.host.joinpath(".git/refs/heads/main").read_text() == head
    assert {path: ids(world, path.replace("/", "-")) for path in paths} == before


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except RuntimeError:
            pass  # a container went away between listing and inspecting: Compose at work
        time.sleep(0.2)
    return condition()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return metric_samples(reply.read().decode())


def test_daemon_deploys_a_push_serves_metrics_and_stops_on_sigterm(world: World) -> None:
    app, web = world.names("app", "web")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.commit_and_push("app")
    port = free_port()
    daemon = subprocess.Popen(
        [
            *world.run_command(),
            "--interval",
            "1",
            "--metrics-addr",
            f"127.0.0.1:{port}",
        ],
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: running(world, app), 30)
        world.pusher.write(f"{web}/compose.yaml", stack_yaml())
        world.pusher.write(f"{app}/compose.yaml", stack_yaml(image=IMAGE_V2))
        world.pusher.commit_and_push("add web, update app")
        assert wait_for(lambda: running(world, web), 15)
        assert wait_for(lambda: world.exec(app, "app", "cat /VERSION").strip() == "2", 15)
        assert wait_for(lambda: scrape(port)["gitops_deployment_success_total"] == 3, 10)

        samples = scrape(port)
        assert samples["gitops_check_success_total"] >= 2
        assert samples["gitops_check_error_total"] == 0
        assert samples["gitops_deployment_error_total"] == 0
        assert samples["gitops_deployment_active_total{status=ok}"] == 2
        assert samples["gitops_deployment_active_total{status=error}"] == 0
        assert samples["gitops_deployment_active_total{status=removal_failed}"] == 0
        assert samples["gitops_check_last_error_timestamp_seconds"] == 0
        now = time.time()
        assert now - 10 < samples["gitops_check_last_success_timestamp_seconds"] <= now
        assert now - 10 < samples["gitops_check_last_timestamp_seconds"] <= now
        assert not any(name.endswith("_created") for name in samples)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as reply:
            document = json.loads(reply.read())
        assert {e["stack"]: e["status"] for e in document["stacks"]} == {app: "ok", web: "ok"}
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_up_to_date_repository_runs_no_compose_command(world: World) -> None:
    deploy_layout(world)
    world.clear_calls()

    done = once(world)

    assert done.returncode == 0, done.stderr
    assert stack_commands(world) == []
    assert [e for e in events(done) if e["event"] == "stack"] == []


def test_compose_variables_of_the_environment_cannot_redirect_a_stack(world: World) -> None:
    app, hijacked = world.names("app", "hijacked")
    world.pusher.write(f"{app}/compose.yaml", stack_yaml())
    world.pusher.write(f"{app}/other.yaml", stack_yaml("sleep 7200", service="intruder"))
    world.pusher.commit_and_push("app")
    done = world.run(
        "--once",
        env={"COMPOSE_FILE": "other.yaml", "COMPOSE_PROJECT_NAME": hijacked},
    )
    assert done.returncode == 0, done.stderr
    assert [c["service"] for c in world.containers(app)] == ["app"]
    assert world.containers(hijacked) == []
