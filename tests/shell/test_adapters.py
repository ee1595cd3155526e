"""What the adapters send to Docker and how they read its answers."""

from __future__ import annotations

from pathlib import Path

from gitops_compose.core.reconcile.action import Changed, New, Phase, StackAction, Verb
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.value import replace
from gitops_compose.shell.compose_host import ComposeHost, parse_config_hashes, parse_ps
from gitops_compose.shell.git_repository import missing_origin_path, redacted


def action(
    verb: Verb,
    files: tuple[str, ...] = ("my_app/production/compose.yaml",),
    phase: Phase = Phase.UPDATE,
    build: bool = False,
) -> StackAction:
    return StackAction(
        verb=verb,
        phase=phase,
        stack="my_app/production",
        project="my_app-production",
        compose_files=files,
        commit="c",
        fingerprint="f",
        cause=New(),
        build=build,
    )


HOST = ComposeHost("docker", Path("/srv/deploy"), timeout=5)
WHERE = [
    "compose",
    "--ansi",
    "never",
    "--project-name",
    "my_app-production",
    "--project-directory",
    "/srv/deploy/my_app/production",
    "--file",
    "/srv/deploy/my_app/production/compose.yaml",
]


def test_removal_never_removes_volumes() -> None:
    command = HOST.command(action(Verb.STOP))
    assert command == [*WHERE, "down", "--remove-orphans"]
    assert not {"-v", "--volumes"} & set(command)


def test_stop_without_valid_files_goes_by_project_name_alone() -> None:
    assert HOST.command(action(Verb.STOP, files=())) == [
        "compose",
        "--ansi",
        "never",
        "--project-name",
        "my_app-production",
        "down",
        "--remove-orphans",
    ]


def test_a_restart_for_another_cause_than_a_change_recreates_every_service() -> None:
    assert HOST.commands(action(Verb.RESTART)) == [
        [
            *WHERE,
            "up",
            "--detach",
            "--remove-orphans",
            "--pull",
            "always",
            "--force-recreate",
        ]
    ]


def test_a_change_lets_compose_recreate_what_it_sees_and_names_mounted_services() -> None:
    seen = Changed(("my_app/production/.env",))
    assert HOST.commands(replace(action(Verb.RESTART), cause=seen)) == [
        [*WHERE, "up", "--detach", "--remove-orphans", "--pull", "always"]
    ]
    mounted = Changed(
        ("my_app/production/nginx.conf", "my_app/production/.env"),
        mounted=(("my_app/production/nginx.conf", ("proxy", "web")),),
    )
    assert HOST.commands(replace(action(Verb.RESTART), cause=mounted)) == [
        [*WHERE, "up", "--detach", "--remove-orphans", "--pull", "always"],
        [*WHERE, "up", "--detach", "--no-deps", "--force-recreate", "proxy", "web"],
    ]
    assert mounted.reason == (
        "changed: my_app/production/nginx.conf → proxy and web, my_app/production/.env"
    )


def test_a_changed_stack_with_images_built_here_is_built_again() -> None:
    assert HOST.command(action(Verb.RESTART, build=True)) == [
        *WHERE,
        "up",
        "--detach",
        "--remove-orphans",
        "--pull",
        "always",
        "--build",
        "--force-recreate",
    ]


def test_a_start_keeps_containers_compose_sees_unchanged() -> None:
    assert HOST.command(action(Verb.START, phase=Phase.HEAL)) == [
        *WHERE,
        "up",
        "--detach",
        "--remove-orphans",
    ]


def test_a_start_the_plan_wants_built_builds() -> None:
    assert HOST.command(action(Verb.START, phase=Phase.ADD, build=True)) == [
        *WHERE,
        "up",
        "--detach",
        "--remove-orphans",
        "--build",
    ]


def test_docker_ps_lines_become_containers_by_project() -> None:
    output = (
        "shop\tweb\trunning\tUp 3 minutes\tab12\t/srv/infra/shop\n"
        "shop\tdb\texited\tExited (1) 2 minutes ago\t\t\n"
        "blog\tmigrate\texited\tExited (0) 1 hour ago\t\t\n"
        "\n"
    )
    assert parse_ps(output) == {
        "shop": (
            Container("web", "running", config_hash="ab12", working_dir="/srv/infra/shop"),
            Container("db", "exited", 1),
        ),
        "blog": (Container("migrate", "exited", 0),),
    }


def test_config_hash_lines_become_hashes_by_service() -> None:
    assert parse_config_hashes("db ab5c\nweb 2afd\n\n") == {"db": "ab5c", "web": "2afd"}


def test_credentials_in_urls_are_redacted() -> None:
    said = "fetch from https://deploy:s3cret@git.example.com/ops/host.git failed: 401"
    assert redacted(said) == "fetch from https://***@git.example.com/ops/host.git failed: 401"
    assert "s3cret" not in redacted("ssh://git:pw@host/x and https://tok@h/y")


def test_a_missing_origin_path_is_named_and_remote_urls_are_not_taken_for_paths(
    tmp_path: Path,
) -> None:
    gone = tmp_path / "moved away" / "origin.git"
    said = missing_origin_path("upstream", str(gone))
    assert said is not None
    assert said.startswith(f"its path {gone} does not exist")
    assert said.endswith("git remote set-url upstream NEW-PATH")
    encoded = missing_origin_path("origin", f"file://{tmp_path}/moved%20away/origin.git")
    assert encoded is not None
    assert f"its path {gone} does not exist" in encoded
    assert missing_origin_path("origin", str(tmp_path)) is None
    assert missing_origin_path("origin", f"file://{tmp_path}") is None
    for url in (
        "git@github.com:ops/host.git",
        "github.com:ops/host.git",
        "https://***@git.example.com/ops/host.git",
        "ssh://git@host/srv/x.git",
        None,
    ):
        assert missing_origin_path("origin", url) is None, url


def test_a_command_over_its_timeout_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    # As `docker` runs the Compose plugin: a child process that would outlive its parent.
    marker = f"gitops-timeout-{tmp_path.name}"
    fake = tmp_path / "docker"
    fake.write_text(f"#!/bin/sh\nsh -c 'sleep 300; : {marker}' &\nwait\n")
    fake.chmod(0o755)
    host = ComposeHost(str(fake), tmp_path, timeout=1)

    outcome = host.carry_out(action(Verb.START))

    assert outcome.error is not None
    assert outcome.error == (
        f"timed out after 1 s and killed with all it started: {fake} compose --project-name "
        "my_app-production up --detach --remove-orphans"
    )
    assert not [pid for pid in running_pids() if marker in command_line(pid)]


def running_pids() -> list[str]:
    return [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def command_line(pid: str) -> str:
    try:
        raw = (Path("/proc") / pid / "cmdline").read_bytes()
        # Any process on the machine may have arguments that are not UTF-8.
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
