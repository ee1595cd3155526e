"""Which directories are stacks, which files each owns, and what its project is called."""

import pytest

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.compose_sources import contents_needed
from gitops_compose.core.compose.snapshot import Snapshot
from gitops_compose.core.compose.stack import project_name, stacks_of
from gitops_compose.core.value import replace

from .builders import MY_APP, PARSING, ROOT_NAME, blob_id, compose, repo, stacks


def edited(path: str, text: str, files: dict[str, str] = MY_APP) -> dict[str, str]:
    return {**files, path: text}


def changed_stacks(before: dict[str, str], after: dict[str, str]) -> set[str]:
    old, new = stacks(before).valid, stacks(after).valid
    return {
        path
        for path in old.keys() | new.keys()
        if path not in old or path not in new or old[path].fingerprint != new[path].fingerprint
    }


def test_each_directory_with_a_compose_file_is_a_stack() -> None:
    assert set(stacks(MY_APP).valid) == {"my_app/production", "my_app/staging", "gitops"}


def test_a_compose_file_at_the_root_is_a_stack_named_after_the_repository() -> None:
    found = stacks({"compose.yaml": compose("web"), "api/docker-compose.yml": compose("api")})
    assert {path: each.project for path, each in found.valid.items()} == {
        ".": ROOT_NAME,
        "api": "api",
    }


def test_stacks_at_any_depth() -> None:
    found = stacks({"a/b/c/d/compose.yml": compose("web")})
    assert list(found.valid) == ["a/b/c/d"]


@pytest.mark.parametrize(
    ("present", "used"),
    [
        (["docker-compose.yml", "compose.yaml"], "compose.yaml"),
        (["docker-compose.yaml", "compose.yml"], "compose.yml"),
        (["compose.yml", "compose.yaml"], "compose.yaml"),
        (["docker-compose.yaml", "docker-compose.yml"], "docker-compose.yml"),
    ],
)
def test_compose_precedence_when_several_files_are_present(present: list[str], used: str) -> None:
    found = stacks({f"shop/{name}": compose(name.split(".")[0]) for name in present})
    assert found.valid["shop"].compose_files == (f"shop/{used}",)


def test_override_file_belongs_to_the_same_stack() -> None:
    found = stacks(
        {
            "shop/compose.yaml": compose("web"),
            "shop/compose.override.yaml": compose("debug"),
        }
    )
    shop = found.valid["shop"]
    assert shop.compose_files == ("shop/compose.yaml", "shop/compose.override.yaml")
    assert [each.name for each in shop.services] == ["debug", "web"]


def test_docker_compose_override_goes_with_docker_compose_file() -> None:
    found = stacks(
        {
            "shop/docker-compose.yml": compose("web"),
            "shop/docker-compose.override.yml": compose("debug"),
        }
    )
    assert found.valid["shop"].compose_files == (
        "shop/docker-compose.yml",
        "shop/docker-compose.override.yml",
    )


def test_an_override_file_alone_is_not_a_stack() -> None:
    assert not stacks({"shop/compose.override.yaml": compose("web")}).valid


def test_a_stack_owns_env_and_nested_config_but_not_nested_stacks() -> None:
    found = stacks(
        {
            **MY_APP,
            "my_app/compose.yaml": compose("proxy"),
            "my_app/proxy.conf": "upstream x;\n",
        }
    )
    assert set(found.valid["my_app"].files) == {"my_app/compose.yaml", "my_app/proxy.conf"}
    assert set(found.valid["my_app/production"].files) == {
        "my_app/production/compose.yaml",
        "my_app/production/.env",
        "my_app/production/config/nginx/site.conf",
    }


def test_editing_env_changes_only_that_stack() -> None:
    after = edited("my_app/production/.env", "TAG=1.5\n")
    assert changed_stacks(MY_APP, after) == {"my_app/production"}


def test_editing_nested_config_changes_only_its_stack() -> None:
    after = edited("my_app/production/config/nginx/site.conf", "server { listen 8080; }\n")
    assert changed_stacks(MY_APP, after) == {"my_app/production"}


def test_adding_a_file_deep_inside_a_stack_changes_it() -> None:
    after = edited("my_app/staging/config/grafana/dash.json", "{}\n")
    assert changed_stacks(MY_APP, after) == {"my_app/staging"}


def test_editing_a_nested_stack_leaves_the_parent_stack_alone() -> None:
    before = {**MY_APP, "my_app/compose.yaml": compose("proxy")}
    after = edited("my_app/production/.env", "TAG=2\n", before)
    assert changed_stacks(before, after) == {"my_app/production"}


def test_files_outside_every_stack_change_nothing() -> None:
    assert changed_stacks(MY_APP, edited("README.md", "# infra, v2\n")) == set()


def test_root_stack_owns_loose_files_but_not_subfolder_stacks() -> None:
    before = {**MY_APP, "compose.yaml": compose("monitoring")}
    assert changed_stacks(before, edited("README.md", "# v2\n", before)) == {"."}
    assert changed_stacks(before, edited("my_app/staging/.env", "TAG=2\n", before)) == {
        "my_app/staging"
    }


def test_moving_a_file_between_stacks_changes_both() -> None:
    before = edited("my_app/staging/extra.conf", "x\n")
    after = {k: v for k, v in before.items() if k != "my_app/staging/extra.conf"}
    after["my_app/production/extra.conf"] = "x\n"
    assert changed_stacks(before, after) == {"my_app/staging", "my_app/production"}


def test_same_folder_names_in_different_apps_get_different_projects() -> None:
    found = stacks(
        {"a/production/compose.yaml": compose("web"), "b/production/compose.yaml": compose("web")}
    )
    assert {each.project for each in found.valid.values()} == {"a-production", "b-production"}


def test_declared_name_wins_over_the_path() -> None:
    found = stacks({"my_app/production/compose.yaml": compose("web", name="shop")})
    assert found.valid["my_app/production"].project == "shop"


@pytest.mark.parametrize(
    ("path", "project"),
    [
        ("my_app/production", "my_app-production"),
        ("Shop.EU/Prod", "shopeu-prod"),
        ("_tools/backup", "tools-backup"),
    ],
)
def test_project_name_follows_compose_normalisation(path: str, project: str) -> None:
    assert project_name(path, None, ROOT_NAME).unwrap() == project


def test_project_names_are_stable_when_other_stacks_come_and_go() -> None:
    before = stacks(MY_APP)
    after = stacks({**MY_APP, "my_app/qa/compose.yaml": compose("web")})
    assert all(after.valid[path].project == stack.project for path, stack in before.valid.items())


def test_two_stacks_declaring_one_name_are_an_error_for_both_naming_both() -> None:
    found = stacks(
        {
            "a/production/compose.yaml": compose("web", name="production"),
            "b/production/compose.yaml": compose("web", name="production"),
            "c/compose.yaml": compose("web"),
        }
    )
    assert set(found.valid) == {"c"}
    reason = "project name 'production' is shared by a/production and b/production"
    assert {path: each.reason for path, each in found.broken.items()} == {
        "a/production": reason,
        "b/production": reason,
    }


def test_path_names_that_normalise_alike_clash() -> None:
    found = stacks({"my_app/compose.yaml": compose("web"), "My_App/compose.yaml": compose("web")})
    assert set(found.broken) == {"my_app", "My_App"}
    assert "My_App and my_app" in found.broken["my_app"].reason


def test_invalid_yaml_is_an_error_for_that_stack_alone() -> None:
    found = stacks(edited("my_app/staging/compose.yaml", "services:\n  web: [\n"))
    assert set(found.valid) == {"my_app/production", "gitops"}
    broken = found.broken["my_app/staging"]
    assert broken.reason.startswith("invalid compose file: while parsing")
    assert broken.project == "my_app-staging"


def test_a_declared_name_is_normalised_as_compose_does() -> None:
    # `docker compose config` gives `name: shopeu` for `name: Shop EU`, `app` for `-app`.
    found = stacks({"shop/compose.yaml": compose("web", name="Shop EU")})
    assert found.valid["shop"].project == "shopeu"
    found = stacks({"shop/compose.yaml": compose("web", name="-App.1")})
    assert found.valid["shop"].project == "app1"


def test_a_declared_name_with_nothing_left_is_an_error_with_no_project() -> None:
    found = stacks({"shop/compose.yaml": compose("web", name="---")})
    assert found.broken["shop"].project is None
    assert found.broken["shop"].reason == "invalid project name '---': nothing is left of it"


def test_controller_and_ignored_stacks_are_found_with_their_role() -> None:
    found = stacks({**MY_APP, "lab/compose.yaml": compose(toy={"labels": ["gitops.ignore=true"]})})
    roles = {path: each.role for path, each in found.valid.items()}
    assert roles["gitops"] is Role.CONTROLLER
    assert roles["lab"] is Role.IGNORED
    assert roles["my_app/production"] is Role.DEPLOY


SHARED = {
    "shared/common.env": "TZ=UTC\n",
    "shared/certs/site.crt": "cert 1\n",
    "shared/certs/site.key": "key 1\n",
    "web/compose.yaml": compose(web={"env_file": "../shared/common.env"}),
    "proxy/compose.yaml": compose(proxy={"volumes": ["../shared/certs:/certs:ro"]}),
    "db/compose.yaml": compose("db"),
}


@pytest.mark.parametrize(
    ("path", "changed"),
    [
        ("shared/common.env", {"web"}),
        ("shared/certs/site.key", {"proxy"}),
        ("shared/README.md", set()),
    ],
)
def test_a_file_a_compose_file_names_elsewhere_changes_the_stacks_naming_it(
    path: str, changed: set[str]
) -> None:
    assert changed_stacks(SHARED, edited(path, "edited\n", SHARED)) == changed


def test_a_stack_owns_the_files_it_names_outside_its_directory() -> None:
    assert set(stacks(SHARED).valid["proxy"].files) == {
        "proxy/compose.yaml",
        "shared/certs/site.crt",
        "shared/certs/site.key",
    }


def test_a_bind_mount_of_a_nested_stack_follows_that_stacks_files() -> None:
    files = {
        "compose.yaml": compose(backup={"volumes": ["./app/data:/backup/app:ro"]}),
        "app/compose.yaml": compose("app"),
        "app/data/seed.sql": "insert 1\n",
    }
    assert changed_stacks(files, edited("app/data/seed.sql", "insert 2\n", files)) == {
        ".",
        "app",
    }


def test_paths_that_leave_the_repository_name_nothing() -> None:
    files = {
        "web/compose.yaml": compose(web={"env_file": "../../etc/web.env"}),
        "etc/web.env": "A=1\n",
    }
    assert set(stacks(files).valid["web"].files) == {"web/compose.yaml"}


INCLUDES = {
    "proxy/compose.yaml": "include: [../lib/proxy.yaml]\n",
    "lib/proxy.yaml": "include: [./tls.yaml]\n" + compose(proxy={"env_file": "./proxy.env"}),
    "lib/tls.yaml": compose(certbot={"volumes": ["./certs:/certs"]}),
    "lib/proxy.env": "PORT=80\n",
    "lib/certs/site.crt": "cert\n",
    "lib/README.md": "shared pieces\n",
}


def test_included_files_give_their_services_and_files_named_from_their_own_directory() -> None:
    proxy = stacks(INCLUDES).valid["proxy"]
    assert [each.name for each in proxy.services] == ["certbot", "proxy"]
    assert set(proxy.files) == {
        "proxy/compose.yaml",
        "lib/proxy.yaml",
        "lib/tls.yaml",
        "lib/proxy.env",
        "lib/certs/site.crt",
    }


@pytest.mark.parametrize("path", ["lib/tls.yaml", "lib/proxy.env", "lib/certs/site.crt"])
def test_an_edit_of_anything_an_included_file_names_changes_the_stack(path: str) -> None:
    assert changed_stacks(INCLUDES, edited(path, "edited: true\n", INCLUDES)) == {"proxy"}


def test_a_label_in_an_included_file_decides_the_role() -> None:
    files = {
        "gitops/compose.yaml": "include: [agent.yaml]\n",
        "gitops/agent.yaml": compose(agent={"labels": {"gitops.controller": "true"}}),
    }
    assert stacks(files).valid["gitops"].role is Role.CONTROLLER


def test_files_that_include_each_other_are_an_error_naming_the_cycle() -> None:
    # Compose: "include cycle detected: a/compose.yaml include b/compose.yaml include ...".
    files = {
        "a/compose.yaml": "include: [../b/compose.yaml]\n" + compose("web"),
        "b/compose.yaml": "include: [../a/compose.yaml]\n" + compose("db"),
        "c/compose.yaml": compose("other"),
    }
    found = stacks(files)
    assert found.broken["a"].reason == (
        "invalid compose file: include cycle: "
        "a/compose.yaml includes b/compose.yaml includes a/compose.yaml"
    )
    assert found.broken["b"].reason == (
        "invalid compose file: include cycle: "
        "b/compose.yaml includes a/compose.yaml includes b/compose.yaml"
    )
    assert list(found.valid) == ["c"]


def test_a_file_included_twice_without_a_cycle_is_read_once() -> None:
    files = {
        "app/compose.yaml": "include: [../lib/a.yaml, ../lib/b.yaml]\n",
        "lib/a.yaml": "include: [common.yaml]\n" + compose("web"),
        "lib/b.yaml": "include: [common.yaml]\n" + compose("db"),
        "lib/common.yaml": compose("cache"),
    }
    assert [each.name for each in stacks(files).valid["app"].services] == ["cache", "db", "web"]


def test_a_broken_included_file_is_an_error_for_the_stack_naming_that_file() -> None:
    found = stacks({**INCLUDES, "lib/tls.yaml": "services: [\n"})
    assert found.broken["proxy"].reason.endswith(" in lib/tls.yaml")


def test_the_shell_is_asked_for_included_files_round_by_round() -> None:
    snapshot = Snapshot(commit="c", blobs={path: blob_id(text) for path, text in INCLUDES.items()})
    rounds = []
    while needed := contents_needed(snapshot, PARSING):
        rounds.append(set(needed))
        read = {blob_id(INCLUDES[path]): INCLUDES[path].encode() for path in needed}
        snapshot = Snapshot("c", snapshot.blobs, {**snapshot.contents, **read})
    assert rounds == [{"proxy/compose.yaml"}, {"lib/proxy.yaml"}, {"lib/tls.yaml"}]


def test_an_included_link_to_a_host_file_is_left_to_compose() -> None:
    snapshot = repo(INCLUDES)
    linked = replace(snapshot, dead_links={"lib/tls.yaml": "/etc/compose/tls.yaml"})
    proxy = stacks_of(linked, ROOT_NAME, PARSING).valid["proxy"]
    assert [each.name for each in proxy.services] == ["proxy"]


def test_an_edit_in_a_build_context_outside_the_stack_changes_it() -> None:
    files = {
        "api/compose.yaml": "services:\n  api:\n    build: ../src\n",
        "src/Dockerfile": "FROM busybox\n",
        "src/main.py": "print(1)\n",
        "db/compose.yaml": compose("db"),
    }
    assert changed_stacks(files, edited("src/main.py", "print(2)\n", files)) == {"api"}


WATCHING = {
    "api/compose.yaml": (
        "x-gitops:\n  watch: [../shared/schema.sql]\n"
        "services:\n  api:\n    image: api\n    x-gitops:\n      watch: ['../templates', /etc/x]\n"
    ),
    "shared/schema.sql": "create table a;\n",
    "shared/other.sql": "create table b;\n",
    "templates/mail/welcome.txt": "hello\n",
    "db/compose.yaml": compose("db"),
}


@pytest.mark.parametrize(
    ("path", "changed"),
    [
        ("shared/schema.sql", {"api"}),  # watched at the top level
        ("templates/mail/welcome.txt", {"api"}),  # below a directory a service watches
        ("shared/other.sql", set()),
    ],
)
def test_files_x_gitops_watch_names_change_the_stack(path: str, changed: set[str]) -> None:
    assert changed_stacks(WATCHING, edited(path, "edited\n", WATCHING)) == changed
