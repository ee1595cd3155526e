"""Generated repositories: stacks described by a few choices, rendered to ``{path: text}``.

Paths come from a small pool, so generated repositories have nested stacks, a root stack,
and paths that normalise to the same project name (``app/prod`` and ``app-prod``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from hypothesis import strategies as st

from gitops_compose.core.compose.snapshot import COMPOSE_FILE_NAMES
from gitops_compose.core.compose.stack import Stacks
from gitops_compose.core.reconcile.runtime import Container

Kind = Literal["long", "one-shot", "profile", "scale-0"]
RoleName = Literal["deploy", "controller", "ignored"]
BROKEN = "services:\n  web: [\n"

SEGMENTS = ("app", "prod", "stage", "app-prod", "App")
NAMES = ("shop", "app-prod", "stage")
SERVICES = ("web", "db", "worker", "migrate")
# A file outside every stack directory that stacks may name (env_file: ../shared/common.env).
SHARED_ENV = "shared/common.env"
# A network one stack may create and others use as external: an order between stacks.
SHARED_NETWORK = "shared_net"


@dataclass(frozen=True)
class StackSpec:
    services: tuple[tuple[str, Kind], ...] = (("web", "long"),)
    name: str | None = None
    role: RoleName = "deploy"
    labels_as_list: bool = False
    file_name: str = "compose.yaml"
    # A lower-precedence compose file beside the main one: Compose ignores it.
    shadowed: bool = False
    override: bool = False
    broken: bool = False
    tag: int = 1
    env: str = "TAG=1\n"
    config: str | None = None
    # Whether its first service reads SHARED_ENV.
    shared_env: bool = False
    # Whether it creates the network SHARED_NETWORK, or uses it as external.
    network: Literal["none", "creates", "uses"] = "none"
    # Stacks it starts after (x-gitops: depends_on): possibly none of the repository.
    depends_on: tuple[str, ...] = ()

    def edited(self, **changes: Any) -> StackSpec:
        return replace(self, **changes)


def render(specs: dict[str, StackSpec]) -> dict[str, str]:
    files: dict[str, str] = {"README.md": "# infra\n", SHARED_ENV: "TZ=UTC\n"}
    for path, spec in specs.items():
        files.update(render_stack(path, spec))
    return files


def render_stack(path: str, spec: StackSpec) -> dict[str, str]:
    prefix = "" if path == "." else f"{path}/"
    files = {
        f"{prefix}{spec.file_name}": BROKEN if spec.broken else _compose_text(path, spec),
        f"{prefix}.env": spec.env,
    }
    lower = COMPOSE_FILE_NAMES[COMPOSE_FILE_NAMES.index(spec.file_name) + 1 :]
    if spec.shadowed and lower:
        files[f"{prefix}{lower[0]}"] = BROKEN
    if spec.override:
        first = spec.services[0][0]
        files[f"{prefix}compose.override.yaml"] = json.dumps(
            {"services": {first: {"environment": {"STAGE": path}}}}
        )
    if spec.config is not None:
        files[f"{prefix}config/nginx/site.conf"] = spec.config
    return files


def _compose_text(path: str, spec: StackSpec) -> str:
    one_shots = [name for name, kind in spec.services if kind == "one-shot"]
    services: dict[str, dict[str, Any]] = {}
    for name, kind in spec.services:
        body: dict[str, Any] = {"image": f"registry.local/{name}:{spec.tag}"}
        if kind == "profile":
            body["profiles"] = ["debug"]
        if kind == "scale-0":
            body["deploy"] = {"replicas": 0}
        if kind == "long" and one_shots:
            body["depends_on"] = {
                each: {"condition": "service_completed_successfully"} for each in one_shots
            }
        services[name] = body
    if spec.shared_env:
        up = "" if path == "." else "../" * (path.count("/") + 1)
        next(iter(services.values()))["env_file"] = f"{up}{SHARED_ENV}"
    if spec.role != "deploy":
        key = f"gitops.{'controller' if spec.role == 'controller' else 'ignore'}"
        first = next(iter(services.values()))
        first["labels"] = [f"{key}=true"] if spec.labels_as_list else {key: True}
    document: dict[str, Any] = {"services": services}
    if spec.network != "none":
        next(iter(services.values()))["networks"] = ["shared"]
        external = {"external": True} if spec.network == "uses" else {}
        document["networks"] = {"shared": {"name": SHARED_NETWORK, **external}}
    if spec.depends_on:
        document["x-gitops"] = {"depends_on": list(spec.depends_on)}
    if spec.name is not None:
        document = {"name": spec.name, **document}
    # JSON is YAML too, and much quicker to write than yaml.safe_dump.
    return json.dumps(document)


# --- strategies -----------------------------------------------------------------------------

paths = st.one_of(
    st.just("."),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=2, unique=True).map("/".join),
)

services = st.lists(
    st.tuples(
        st.sampled_from(SERVICES),
        st.sampled_from(("long", "long", "long", "one-shot", "profile", "scale-0")),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda each: each[0],
).map(tuple)

specs = st.builds(
    StackSpec,
    services=services,
    name=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(NAMES)),
    role=st.sampled_from(("deploy", "deploy", "deploy", "deploy", "controller", "ignored")),
    labels_as_list=st.booleans(),
    file_name=st.sampled_from(COMPOSE_FILE_NAMES),
    shadowed=st.booleans(),
    override=st.booleans(),
    broken=st.sampled_from((False, False, False, False, True)),
    tag=st.integers(1, 3),
    env=st.sampled_from(("TAG=1\n", "TAG=2\n")),
    config=st.sampled_from((None, "listen 80;\n", "listen 81;\n")),
    shared_env=st.booleans(),
    network=st.sampled_from(("none", "creates", "uses", "uses")),
    depends_on=st.one_of(
        st.just(()), st.just(()), st.just(()), st.lists(paths, max_size=1).map(tuple)
    ),
)

repositories = st.dictionaries(paths, specs, max_size=6)


@st.composite
def successors(draw: st.DrawFn, before: dict[str, StackSpec]) -> dict[str, StackSpec]:
    """A later commit: each stack kept, edited, broken, renamed, moved or removed; new ones."""
    after: dict[str, StackSpec] = {}
    for path, spec in before.items():
        change = draw(
            st.sampled_from(
                (
                    "keep",
                    "keep",
                    "keep",
                    "env",
                    "tag",
                    "config",
                    "shared",
                    "network",
                    "break",
                    "fix",
                    "name",
                    "role",
                    "move",
                    "remove",
                )
            )
        )
        match change:
            case "keep":
                after[path] = spec
            case "env":
                after[path] = spec.edited(env=spec.env + "X=1\n")
            case "tag":
                after[path] = spec.edited(tag=spec.tag + 1)
            case "config":
                after[path] = spec.edited(config=(spec.config or "") + "gzip on;\n")
            case "shared":
                after[path] = spec.edited(shared_env=not spec.shared_env)
            case "network":
                network = draw(st.sampled_from(("none", "creates", "uses")))
                after[path] = spec.edited(network=network)
            case "break" | "fix":
                after[path] = spec.edited(broken=change == "break")
            case "name":
                after[path] = spec.edited(name=draw(st.sampled_from((None, *NAMES))))
            case "role":
                after[path] = spec.edited(role=draw(st.sampled_from(("deploy", "ignored"))))
            case "move":
                after[draw(paths)] = spec
            case "remove":
                pass
    added = draw(st.dictionaries(paths, specs, max_size=2))
    return {**after, **{path: spec for path, spec in added.items() if path not in after}}


CONTAINER_STATES = st.one_of(
    st.just(Container("", "running")),
    st.builds(lambda code: Container("", "exited", code), st.sampled_from((0, 1, 137))),
    st.sampled_from((Container("", "restarting"), Container("", "created"))),
)


@st.composite
def hosts(draw: st.DrawFn, local: Stacks) -> dict[str, tuple[Container, ...]]:
    """What runs: each local stack up, down, or partly up; plus a project nobody manages."""
    host: dict[str, tuple[Container, ...]] = {"unmanaged": (Container("app", "running"),)}
    for stack in local.valid.values():
        shape = draw(st.sampled_from(("up", "up", "up", "absent", "mixed")))
        expected = [each for each in stack.services if each.expected]
        if shape == "up":
            host[stack.project] = tuple(
                Container(each.name, "exited", 0)
                if each.one_shot
                else Container(each.name, "running")
                for each in expected
            )
        elif shape == "mixed":
            states = draw(
                st.lists(CONTAINER_STATES, min_size=len(expected), max_size=len(expected))
            )
            host[stack.project] = tuple(
                Container(each.name, state.state, state.exit_code)
                for each, state in zip(expected, states, strict=True)
            )
    for error in local.broken.values():
        if error.project is not None and draw(st.booleans()):
            host[error.project] = (Container("web", "running"),)
    return host
