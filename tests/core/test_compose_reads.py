"""Every file Compose reads for a stack counts, and the services Compose starts are the
ones expected to run: as the plan shows them (``changed: <file>``, ``--build``, drift)."""

from __future__ import annotations

import pytest

from gitops_compose.core.reconcile.plan import StackAction, Verb

from .builders import compose, facts, planned, stacks, steps, up

# A stack whose service extends one of another directory, which extends one more in turn:
# each names files from its own directory.
EXTENDS = {
    "app/compose.yaml": (
        "services:\n"
        "  web:\n"
        "    extends: {file: ../base/base.yml, service: web}\n"
        "    environment: {STAGE: app}\n"
    ),
    "base/base.yml": (
        "services:\n"
        "  web:\n"
        "    extends: {file: ../core/core.yml, service: core}\n"
        "    build: {context: src, dockerfile: ../Dockerfile.web}\n"
        "    env_file: base.env\n"
        "    label_file: web.labels\n"
        "    volumes: [./html:/usr/share/nginx/html:ro]\n"
        "  unused: {image: busybox, env_file: unused.env}\n"
    ),
    "base/base.env": "A=1\n",
    "base/web.labels": "tier=front\n",
    "base/Dockerfile.web": "FROM nginx\n",
    "base/src/main.py": "print(1)\n",
    "base/html/index.html": "<h1>hi</h1>\n",
    "core/core.yml": "services:\n  core:\n    env_file: [{path: core.env, required: false}]\n",
    "core/core.env": "B=1\n",
    "core/README.md": "# not read by Compose\n",
    "other/compose.yaml": compose("db"),
}


def restarted(files: dict[str, str], path: str) -> list[str]:
    """The plan's restarts after a commit that changes only ``path``."""
    after = {**files, path: files.get(path, "") + "# edited\n"}
    return [each for each in steps(planned(facts(files, after))) if each != "fast-forward"]


@pytest.mark.parametrize(
    "path",
    [
        "base/base.yml",
        "base/base.env",
        "base/web.labels",
        "base/Dockerfile.web",
        "base/src/main.py",
        "base/html/index.html",
        "core/core.yml",
        "core/core.env",
    ],
)
def test_an_edit_of_a_file_an_extended_service_names_from_its_directory_restarts(
    path: str,
) -> None:
    assert restarted(EXTENDS, path) == [f"restart app: changed: {path}"]


@pytest.mark.parametrize("path", ["core/README.md", "other/compose.yaml"])
def test_files_the_extended_services_do_not_name_leave_the_stack_alone(path: str) -> None:
    assert "app" not in " ".join(restarted(EXTENDS, path))


def test_a_file_named_by_a_service_nobody_extends_counts_for_nothing() -> None:
    files = {**EXTENDS, "base/unused.env": "C=1\n"}
    assert restarted(files, "base/unused.env") == []


def test_a_service_built_only_through_extends_is_deployed_with_build() -> None:
    (action,) = planned(facts(EXTENDS, {**EXTENDS, "base/src/main.py": "print(2)\n"})).stack_actions
    assert (action.verb, action.stack, action.build) == (Verb.RESTART, "app", True)


def test_an_image_given_beside_an_extended_build_is_pulled() -> None:
    files = {
        **EXTENDS,
        "app/compose.yaml": EXTENDS["app/compose.yaml"] + "    image: registry.local/web:1\n",
    }
    assert not stacks(files).valid["app"].builds
    assert restarted(files, "base/src/main.py") == []  # the pulled image is what runs


def test_a_service_extending_one_of_its_own_file_gets_its_build() -> None:
    files = {
        "api/compose.yaml": (
            "services:\n"
            "  base: {build: ../src, profiles: [never]}\n"
            "  api: {extends: base, profiles: []}\n"
        ),
        "src/Dockerfile": "FROM busybox\n",
    }
    found = stacks(files).valid["api"]
    assert found.builds
    assert [(each.name, each.expected) for each in found.services] == [
        ("api", True),
        ("base", False),
    ]
    assert restarted(files, "src/Dockerfile") == ["restart api: changed: src/Dockerfile"]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (
            {
                "app/compose.yaml": "services:\n  web: {extends: {file: a.yml, service: web}}\n",
                "app/a.yml": "services:\n  web: {extends: {file: b.yml, service: web}}\n",
                "app/b.yml": "services:\n  web: {extends: {file: a.yml, service: web}}\n",
            },
            "invalid compose file: extends cycle: web in the compose file extends web in "
            "app/a.yml extends web in app/b.yml extends web in app/a.yml",
        ),
        (
            {"app/compose.yaml": "services:\n  a: {extends: b}\n  b: {extends: a}\n"},
            "invalid compose file: extends cycle: a in the compose file extends b in the "
            "compose file extends a in the compose file",
        ),
        (
            {
                "app/compose.yaml": "services:\n  web: {extends: {file: a.yml, service: api}}\n",
                "app/a.yml": compose("web"),
            },
            "invalid compose file: cannot extend service api: not in app/a.yml",
        ),
    ],
)
def test_extends_that_compose_rejects_is_an_error_at_plan_time(
    files: dict[str, str], reason: str
) -> None:
    assert stacks(files).broken["app"].reason == reason


def test_an_extended_file_the_commit_does_not_hold_is_left_to_compose() -> None:
    files = {"app/compose.yaml": "services:\n  web: {extends: {file: /etc/base.yml, service: w}}\n"}
    assert [each.name for each in stacks(files).valid["app"].services] == ["web"]


# --- include ------------------------------------------------------------------------------

INCLUDES = {
    "proxy/compose.yaml": (
        "include:\n"
        "  - ../lib/proxy.yaml\n"
        "  - path: ../lib/tls/tls.yaml\n"
        "    project_directory: ../lib/certs\n"
    ),
    "lib/proxy.yaml": compose(proxy={"env_file": "proxy.env"}),
    "lib/proxy.env": "A=1\n",
    "lib/.env": "PORT=80\n",
    # tls.yaml's relative paths start from its project directory, lib/certs.
    "lib/tls/tls.yaml": compose(certbot={"env_file": "certbot.env", "volumes": ["./live:/l"]}),
    "lib/tls/certbot.env": "NOT=read\n",
    "lib/certs/certbot.env": "READ=1\n",
    "lib/certs/live/site.crt": "---\n",
    "lib/certs/.env": "DOMAIN=example.org\n",
    "lib/tls/.env": "NOT=read\n",
}


@pytest.mark.parametrize(
    "path",
    [
        "lib/.env",
        "lib/certs/.env",
        "lib/certs/certbot.env",
        "lib/certs/live/site.crt",
        "lib/tls/tls.yaml",
        "lib/proxy.env",
    ],
)
def test_an_edit_of_what_an_included_file_reads_from_its_project_directory_restarts(
    path: str,
) -> None:
    assert restarted(INCLUDES, path) == [f"restart proxy: changed: {path}"]


@pytest.mark.parametrize("path", ["lib/tls/certbot.env", "lib/tls/.env"])
def test_files_beside_an_included_file_with_another_project_directory_do_not_count(
    path: str,
) -> None:
    assert restarted(INCLUDES, path) == []


def test_the_env_files_of_an_include_replace_the_env_beside_it() -> None:
    files = {
        **INCLUDES,
        "proxy/compose.yaml": "include:\n  - {path: ../lib/proxy.yaml, env_file: ../lib/x.env}\n",
        "lib/x.env": "PORT=81\n",
    }
    assert restarted(files, "lib/x.env") == ["restart proxy: changed: lib/x.env"]
    assert restarted(files, "lib/.env") == []


def test_an_included_file_is_interpolated_with_its_env_under_the_stacks() -> None:
    files = {
        "app/compose.yaml": "include: [../lib/workers.yaml]\n",
        "app/.env": "SPARE=0\n",
        "lib/workers.yaml": (
            "services:\n"
            "  worker: {image: w, deploy: {replicas: '${WORKERS:-1}'}}\n"
            "  spare: {image: w, scale: '${SPARE:-1}'}\n"
        ),
        "lib/.env": "WORKERS=0\nSPARE=3\n",  # the stack's SPARE wins, as in Compose
    }
    found = stacks(files).valid["app"]
    assert [(each.name, each.expected) for each in found.services] == [
        ("spare", False),
        ("worker", False),
    ]


def test_an_include_cycle_through_a_deeper_file_names_every_file() -> None:
    files = {
        "app/compose.yaml": "include: [../lib/a.yaml]\n",
        "lib/a.yaml": "include: [b.yaml]\n" + compose("web"),
        "lib/b.yaml": "include: [a.yaml]\n" + compose("db"),
    }
    assert stacks(files).broken["app"].reason == (
        "invalid compose file: include cycle: "
        "app/compose.yaml includes lib/a.yaml includes lib/b.yaml includes lib/a.yaml"
    )


# --- every key that names a file ----------------------------------------------------------

KEYS = {
    "app/compose.yaml": """
services:
  web:
    build:
      context: ../src/web
      dockerfile: ../../docker/web.Dockerfile  # from the context
      additional_contexts:
        assets: ../assets
        base: docker-image://alpine:3
        remote: https://github.com/example/repo.git
    label_file: [../shared/a.labels, ../shared/b.labels]
    env_file:
      - ../shared/one.env
      - {path: ../shared/two.env, required: false}
    volumes:
      - ../shared/conf:/conf:ro
      - {type: bind, source: ../shared/long, target: /long}
      - data:/data
  db:
    image: postgres
    env_file: ${ENV_DIR:-../shared}/db.env
volumes:
  data:
    driver_opts: {type: none, o: bind, device: ../shared/data}
configs:
  site: {file: ../shared/site.conf}
secrets:
  token: {file: ../shared/token}
""",
    "src/web/main.py": "print(1)\n",
    "docker/web.Dockerfile": "FROM python\n",
    "docker/other.Dockerfile": "FROM python\n",
    "assets/logo.svg": "<svg/>\n",
    "shared/a.labels": "a=1\n",
    "shared/b.labels": "b=1\n",
    "shared/one.env": "ONE=1\n",
    "shared/two.env": "TWO=1\n",
    "shared/conf/app.conf": "x\n",
    "shared/long/file": "x\n",
    "shared/data/seed.sql": "x\n",
    "shared/site.conf": "x\n",
    "shared/token": "x\n",
    "shared/db.env": "x\n",
    "shared/unrelated.txt": "x\n",
}


@pytest.mark.parametrize(
    "path",
    [
        "src/web/main.py",
        "docker/web.Dockerfile",
        "assets/logo.svg",
        "shared/a.labels",
        "shared/b.labels",
        "shared/one.env",
        "shared/two.env",
        "shared/conf/app.conf",
        "shared/long/file",
        "shared/data/seed.sql",
        "shared/site.conf",
        "shared/token",
        "shared/db.env",
    ],
)
def test_an_edit_of_a_file_any_key_names_restarts_the_stack(path: str) -> None:
    # A file mounted into a service (bind source, a volume bound to a directory) names it:
    # Compose's configuration does not show that change, so the service is recreated.
    mounted = path.startswith(("shared/conf/", "shared/long/", "shared/data/"))
    into = " → web" if mounted else ""
    assert restarted(KEYS, path) == [f"restart app: changed: {path}{into}"]


@pytest.mark.parametrize("path", ["docker/other.Dockerfile", "shared/unrelated.txt"])
def test_files_no_key_names_leave_it_alone(path: str) -> None:
    assert restarted(KEYS, path) == []


def test_a_path_through_a_variable_of_the_stacks_env_counts() -> None:
    files = {**KEYS, "app/.env": "ENV_DIR=../conf\n", "conf/db.env": "x\n"}
    assert restarted(files, "conf/db.env") == ["restart app: changed: conf/db.env"]
    assert restarted(files, "shared/db.env") == []


# --- which services Compose starts ----------------------------------------------------------

SERVICES = """
services:
  web: {image: nginx}
  debug: {image: busybox, profiles: [debug]}
  ops: {image: busybox, profiles: [ops, tools]}
  spare: {image: nginx, scale: 0}
  standby: {image: nginx, deploy: {replicas: 0}}
  workers: {image: nginx, deploy: {replicas: "${WEB_REPLICAS:-0}"}}
  secret: {image: nginx, deploy: {replicas: "${FROM_ENVIRONMENT}"}}
"""


@pytest.mark.parametrize(
    ("env", "started"),
    [
        ("", ["secret", "web"]),
        ("COMPOSE_PROFILES=debug\n", ["debug", "secret", "web"]),
        ("COMPOSE_PROFILES= tools , debug\n", ["debug", "ops", "secret", "web"]),
        ("COMPOSE_PROFILES=*\n", ["debug", "ops", "secret", "web"]),
        ("export COMPOSE_PROFILES='other'\n", ["secret", "web"]),
        ("P=ops\nCOMPOSE_PROFILES=${P}\n", ["ops", "secret", "web"]),
        ("WEB_REPLICAS=2\n", ["secret", "web", "workers"]),
        ("WEB_REPLICAS=\n", ["secret", "web"]),
        ("FROM_ENVIRONMENT=0\n", ["web"]),
    ],
)
def test_the_services_expected_to_run_are_those_compose_starts(
    env: str, started: list[str]
) -> None:
    found = stacks({"app/compose.yaml": SERVICES, "app/.env": env}).valid["app"]
    assert [each.name for each in found.services if each.expected] == started


def test_a_service_compose_does_not_start_is_never_reported_as_not_running() -> None:
    files = {"app/compose.yaml": SERVICES, "app/.env": "COMPOSE_PROFILES=debug\n"}
    running = planned(facts(files, host={"app": up("web", "debug", "secret")}, full_pass=True))
    missing = planned(facts(files, host={"app": up("web", "secret")}, full_pass=True))
    assert running.actions == ()
    assert steps(missing) == ["start app: not running: debug has no container"]


def test_setting_compose_profiles_in_the_env_restarts_the_stack_and_expects_more() -> None:
    files = {"app/compose.yaml": SERVICES, "app/.env": ""}
    after = {**files, "app/.env": "COMPOSE_PROFILES=debug\n"}
    given = facts(files, after)
    (action,) = planned(given).stack_actions
    assert (action.verb, action.reason) == (Verb.RESTART, "changed: app/.env")
    assert "debug" in given.remote.valid["app"].expectation.services


def test_stack_actions_are_the_only_actions_of_a_quiet_check() -> None:
    found = planned(facts(KEYS, full_pass=True))
    assert [each for each in found.actions if isinstance(each, StackAction)] == []
