"""Compose runs as the plugin ``docker compose`` runs, called directly, when the CLI names it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from gitops_compose.core.reconcile.action import Verb
from gitops_compose.shell.compose_host import ComposeHost, compose_plugin

from .test_adapters import action

PLUGIN = "/usr/local/lib/docker/cli-plugins/docker-compose"


def listing(*plugins: Mapping[str, str]) -> str:
    return json.dumps(list(plugins))


def test_the_compose_plugin_is_read_from_the_clis_list_of_its_plugins() -> None:
    buildx = {"Name": "buildx", "Path": "/usr/libexec/docker/cli-plugins/docker-buildx"}
    compose = {"Name": "compose", "Path": PLUGIN, "Version": "v2.40.3"}
    assert compose_plugin(listing(buildx, compose)) == (PLUGIN, "v2.40.3")


def test_no_plugin_is_named_when_the_cli_does_not_say_one_that_works() -> None:
    broken = {"Name": "compose", "Path": PLUGIN, "Version": "v2.40.3", "Err": "not executable"}
    assert compose_plugin(listing(broken)) is None
    assert compose_plugin(listing({"Name": "compose", "Path": "docker-compose"})) is None
    assert compose_plugin(listing()) is None
    assert compose_plugin("") is None  # an old CLI, or a `docker` that is not Docker's
    assert compose_plugin("null") is None


def fake_docker(tmp_path: Path, plugins: str) -> tuple[Path, Path]:
    """A ``docker`` that lists ``plugins`` and runs nothing else, and a Compose plugin;
    both write each call, with the program's name, to a log."""
    calls = tmp_path / "calls"
    plugin = tmp_path / "plugins" / "docker-compose"
    plugin.parent.mkdir()
    plugin.write_text(f'#!/bin/sh\necho "plugin $*" >> {calls}\n')
    plugin.chmod(0o755)
    docker = tmp_path / "docker"
    docker.write_text(
        f'#!/bin/sh\necho "docker $*" >> {calls}\n'
        f"if [ \"$1\" = info ]; then echo '{plugins.replace('PLUGIN', str(plugin))}'; fi\n"
        'if [ "$1 $2" = "compose version" ]; then echo 2.40.3; fi\n'
    )
    docker.chmod(0o755)
    return docker, calls


def test_compose_commands_run_the_plugin_with_the_arguments_docker_compose_would_get(
    tmp_path: Path,
) -> None:
    docker, calls = fake_docker(
        tmp_path, listing({"Name": "compose", "Path": "PLUGIN", "Version": "v2.40.3"})
    )
    host = ComposeHost(str(docker), Path("/srv/deploy"), timeout=5)

    assert host.compose_problem() is None
    assert host.carry_out(action(Verb.RESTART)).error is None
    assert host.compose_problem() is None  # asked once

    said = calls.read_text().splitlines()
    assert said[0] == "docker info --format {{json .ClientInfo.Plugins}}"
    # On its own, the plugin reads what follows `docker compose`.
    assert said[1].startswith("plugin --ansi never --project-name my_app-production ")
    assert said[1].endswith(" up --detach --remove-orphans --pull always --force-recreate")
    assert len(said) == 2


def test_without_a_plugin_named_compose_runs_through_docker(tmp_path: Path) -> None:
    docker, calls = fake_docker(tmp_path, "")
    host = ComposeHost(str(docker), Path("/srv/deploy"), timeout=5)

    assert host.compose_problem() is None
    assert host.carry_out(action(Verb.STOP)).error is None

    said = calls.read_text().splitlines()
    assert said[1:] == [
        "docker compose version --short",
        "docker compose --ansi never --project-name my_app-production --project-directory "
        "/srv/deploy/my_app/production --file /srv/deploy/my_app/production/compose.yaml "
        "down --remove-orphans",
    ]


def test_a_plugin_of_another_major_version_is_refused_before_any_compose_command(
    tmp_path: Path,
) -> None:
    docker, calls = fake_docker(
        tmp_path, listing({"Name": "compose", "Path": "PLUGIN", "Version": "v1.29.2"})
    )
    host = ComposeHost(str(docker), Path("/srv/deploy"), timeout=5)

    assert host.compose_problem() == (
        f"Docker Compose v2 is required ('{docker} compose version': v1.29.2)"
    )
    assert not [each for each in calls.read_text().splitlines() if "compose" in each.split()[:2]]
