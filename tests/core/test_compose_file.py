"""What the core reads from a Compose file: name, services it starts, gitops.* labels, files."""

import json
import string
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from gitops_compose.core.compose.compose_file import (
    ComposeModel,
    Included,
    Role,
    Service,
    compose_model,
)
from gitops_compose.core.compose.file_links import include_entries

from .builders import PARSING


def model(*documents: str) -> ComposeModel:
    return compose_model([dedent(each).encode() for each in documents], parsing=PARSING).unwrap()


def error(*documents: str) -> str:
    result = compose_model([dedent(each).encode() for each in documents], parsing=PARSING)
    assert isinstance(result, Failure)
    return str(result.failure())


@pytest.mark.parametrize(
    "labels",
    [
        'labels: {gitops.controller: "true"}',
        "labels: {gitops.controller: true}",  # YAML bool, as people write it
        "labels: {gitops.controller: True}",
        'labels: ["gitops.controller=true"]',
        'labels: ["tier=front", "gitops.controller=true"]',
    ],
)
def test_controller_label_as_mapping_list_or_yaml_bool(labels: str) -> None:
    found = model(f"""
        services:
          agent:
            image: gitops-compose:1
            {labels}
    """)
    assert found.role is Role.CONTROLLER


@pytest.mark.parametrize(
    "labels", ['labels: {gitops.ignore: "true"}', 'labels: ["gitops.ignore=true"]']
)
def test_ignore_label_on_any_service_ignores_the_stack(labels: str) -> None:
    found = model(f"""
        services:
          web: {{image: nginx}}
          experiment:
            image: toy
            {labels}
    """)
    assert found.role is Role.IGNORED


@pytest.mark.parametrize(
    "labels",
    [
        'labels: {gitops.ignore: "false"}',
        "labels: {gitops.ignore: false}",
        'labels: ["gitops.ignore"]',
        'labels: {traefik.enable: "true"}',
    ],
)
def test_other_labels_leave_the_stack_deployed(labels: str) -> None:
    found = model(f"""
        services:
          web:
            image: nginx
            {labels}
    """)
    assert found.role is Role.DEPLOY


def test_override_file_label_makes_the_stack_ignored() -> None:
    base = "services:\n  web: {image: nginx, labels: [tier=front]}\n"
    override = "services:\n  web: {labels: {gitops.ignore: true}}\n"
    assert model(base, override).role is Role.IGNORED
    assert model(base).role is Role.DEPLOY


def test_override_file_name_wins_over_the_main_file() -> None:
    assert model("name: shop\nservices: {web: {image: a}}", "name: shop-eu\n").name == "shop-eu"


def test_override_file_adds_services() -> None:
    found = model("services: {web: {image: a}}", "services: {worker: {image: b}}")
    assert [each.name for each in found.services] == ["web", "worker"]


def test_profiles_scale_zero_and_zero_replicas_are_not_expected_to_run() -> None:
    found = model("""
        services:
          web: {image: nginx}
          debug: {image: busybox, profiles: [debug]}
          spare: {image: nginx, scale: 0}
          standby: {image: nginx, deploy: {replicas: 0}}
          twice: {image: nginx, deploy: {replicas: 2}}
    """)
    assert {each.name for each in found.services if each.expected} == {"web", "twice"}


def test_service_awaited_to_complete_is_one_shot() -> None:
    found = model("""
        services:
          migrate: {image: app, command: migrate}
          cache: {image: redis}
          app:
            image: app
            depends_on:
              migrate: {condition: service_completed_successfully}
              cache: {condition: service_started}
    """)
    assert found.services == (
        Service("app", image="app"),
        Service("cache", image="redis"),
        Service("migrate", one_shot=True, image="app"),
    )


def test_depends_on_as_a_list_makes_no_one_shot() -> None:
    found = model("services: {db: {image: pg}, app: {image: app, depends_on: [db]}}")
    assert not any(each.one_shot for each in found.services)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("services:\n  web: [\n", "invalid compose file: while parsing a flow node (line 3)"),
        ("- web\n- db\n", "invalid compose file: top-level object must be a mapping"),
        ("services: [web]\n", "invalid compose file: services must be a mapping"),
        ("services:\n", "invalid compose file: services must be a mapping"),
        ("services: {web: nginx}\n", "invalid compose file: service web must be a mapping"),
        (
            "name: ''\nservices: {web: {}}\n",
            "invalid compose file: name must be a non-empty string",
        ),
        (
            "name: ${STAGE}-shop\nservices: {web: {}}\n",
            "invalid compose file: a project name with variables is not supported",
        ),
    ],
)
def test_unusable_compose_file_gives_a_reason(text: str, reason: str) -> None:
    assert error(text) == reason


def test_bytes_that_are_not_utf8_are_an_error() -> None:
    result = compose_model([b"services:\n  web: {image: \xff\xfe}\n"], parsing=PARSING)
    assert isinstance(result, Failure)
    assert "invalid compose file" in result.failure()


def test_files_compose_reads_are_listed_as_written() -> None:
    found = model(
        """
include:
  - ../shared/base.yaml
  - {path: [../extra/compose.yaml], env_file: ../extra/.env}
configs: {site: {file: ../shared/site.conf}, remote: {external: true}}
secrets: {token: {file: ./token.txt}, key: {environment: KEY}}
services:
  web:
    image: nginx
    env_file: [../shared/common.env, {path: ../shared/optional.env, required: false}]
    extends: {file: ../base/compose.yaml, service: web}
    volumes:
      - ../certs:/certs:ro
      - {type: bind, source: ../www, target: /www}
  db:
    image: pg
    env_file: ./db.env
"""
    )
    assert found.references == (
        "../shared/base.yaml",
        "../shared/.env",  # beside the included file: Compose interpolates it with that
        "../extra/compose.yaml",
        "../extra/.env",
        "../shared/site.conf",
        "./token.txt",
        "../shared/common.env",
        "../shared/optional.env",
        "../base/compose.yaml",
        "../certs",
        "../www",
        "./db.env",
    )


def test_named_volumes_host_paths_and_variables_are_not_files_of_the_repository() -> None:
    found = model(
        """
services:
  web:
    image: nginx
    env_file: ${SECRETS_DIR}/web.env
    volumes:
      - data:/data
      - /etc/ssl:/etc/ssl:ro
      - ~/keys:/keys
      - {type: volume, source: cache, target: /cache}
      - {type: tmpfs, target: /tmp}
volumes: {data: {}, cache: {}}
"""
    )
    assert found.references == ()


def test_an_override_file_adds_the_files_it_names() -> None:
    found = compose_model(
        [
            b"services: {web: {image: nginx, env_file: ../shared/a.env}}\n",
            b"services: {web: {env_file: [../shared/b.env, ../shared/a.env]}}\n",
        ],
        parsing=PARSING,
    ).unwrap()
    assert found.references == ("../shared/a.env", "../shared/b.env")


def test_a_file_of_includes_alone_is_a_stack_whose_services_come_from_them() -> None:
    found = model("include:\n  - ../lib/proxy.yaml\n")
    assert (found.services, found.includes, found.references) == (
        (),
        True,
        ("../lib/proxy.yaml", "../lib/.env"),
    )


# Compose-shaped documents whose every part may also be any JSON value (JSON is YAML, for
# printable text: YAML refuses some control characters that JSON escapes).
TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_./$~: ", max_size=6)
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner),
    max_leaves=10,
)
PATHS = st.sampled_from(
    ["./a.env", "../shared/b.env", "/etc/c", "~/d", "${DIR}/e", "", "data", "../../f", "."]
)
MOUNTS = st.one_of(
    st.builds("{}:/target{}".format, PATHS, st.sampled_from(["", ":ro"])),
    st.fixed_dictionaries({"type": st.sampled_from(["bind", "volume"]), "source": PATHS}),
    JUNK,
)
SERVICE = st.fixed_dictionaries(
    {"image": st.just("registry.local/x:1")},
    optional={
        "env_file": st.one_of(PATHS, st.lists(PATHS | st.fixed_dictionaries({"path": PATHS}))),
        "volumes": st.lists(MOUNTS, max_size=3),
        "extends": st.fixed_dictionaries({"file": PATHS}) | JUNK,
        "labels": st.dictionaries(st.sampled_from(["gitops.ignore", "a"]), JUNK, max_size=2),
    },
)
FILES = st.dictionaries(TEXT.filter(bool), st.fixed_dictionaries({"file": PATHS}) | JUNK)
DOCUMENTS = st.fixed_dictionaries(
    {
        "services": st.dictionaries(
            TEXT.filter(bool), st.one_of(SERVICE, SERVICE, SERVICE, JUNK), max_size=3
        )
    },
    optional={
        "include": st.lists(PATHS | st.fixed_dictionaries({"path": PATHS, "env_file": PATHS})),
        "configs": FILES,
        "secrets": FILES,
        "name": st.one_of(st.just("shop"), st.just("shop"), st.sampled_from(["", "${X}"]), JUNK),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(DOCUMENTS, DOCUMENTS, DOCUMENTS, JUNK), min_size=1, max_size=3))
def test_any_document_gives_a_model_or_a_reason_never_an_exception(
    documents: list[object],
) -> None:
    raws = [json.dumps(each).encode() for each in documents]
    included = [Included("lib/x.yaml", "../lib", raw) for raw in raws[1:]]
    result = compose_model(raws[:1], included, parsing=PARSING)
    if isinstance(result, Success):
        # Only paths of the repository's kind: relative, no variables.
        assert all(
            isinstance(each, str) and each and "$" not in each and each[0] not in "/~"
            for each in result.unwrap().references
        )
    for raw in raws:
        assert all(isinstance(each, str) for each in include_entries(raw, PARSING))


def test_local_contexts_of_images_built_here_are_files_compose_reads() -> None:
    found = model(
        """
services:
  api: {build: ../src/api}
  web: {build: {context: ../src/web, dockerfile: Dockerfile.prod}}
  worker: {build: {dockerfile: Dockerfile.worker}}
  docs: {build: "https://git.example.com/docs.git#main"}
  app: {build: ../src/app, image: registry.local/app:1}
"""
    )
    # app's image is pulled: its build context changes nothing on this host.
    assert found.references == ("../src/api", "../src/web", ".")


@pytest.mark.parametrize(
    ("service", "builds"),
    [
        ("{build: .}", True),
        ("{build: {context: ../src}}", True),
        ("{build: ., image: registry.local/app:1}", False),  # pulled, as deploys expect
        ("{build: ., image: app:dev, pull_policy: build}", True),
        ("{image: registry.local/app:1}", False),
    ],
)
def test_a_stack_builds_here_when_a_service_has_nothing_to_pull(service: str, builds: bool) -> None:
    assert model(f"services: {{app: {service}}}").builds is builds


def test_a_file_without_services_is_valid_as_for_compose() -> None:
    # `docker compose config` accepts both, with no service to start.
    assert model("services: {}\n").services == ()
    assert model("name: shop\n").services == ()
