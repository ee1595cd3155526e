"""What the core needs to know from a stack's Compose file(s), read without Docker.

Only the parts that decide something are read: the project ``name:``, the services (which
of them must be running), the ``gitops.*`` labels, and the relative paths of files Compose
reads besides the stack's own directory. Everything else is Compose's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import lru_cache
from posixpath import normpath
from typing import TYPE_CHECKING, Any, final

from returns.result import Failure, Result, Success

if TYPE_CHECKING:
    import yaml

# Compose's own precedence (compose-go DefaultFileNames / DefaultOverrideFileNames): the first
# present file wins, and the first present override file is loaded on top of it.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

CONTROLLER_LABEL = "gitops.controller"
IGNORE_LABEL = "gitops.ignore"


class Role(Enum):
    """How the tool treats a stack; any service's label decides for the whole stack."""

    DEPLOY = "deploy"
    CONTROLLER = "controller"
    IGNORED = "ignored"


@final
@dataclass(frozen=True, slots=True)
class Service:
    name: str
    # False for services Compose does not start by default (profiles, scale 0).
    expected: bool = True
    # True when another service waits for it to complete: exiting 0 is its success.
    one_shot: bool = False


class ResourceKind(StrEnum):  # a str, so that resources sort by kind, then name
    NETWORK = "network"
    VOLUME = "volume"


@final
@dataclass(frozen=True, slots=True, order=True)
class Resource:
    """A network or volume as Docker names it: what stacks share between them."""

    kind: ResourceKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name}"


@final
@dataclass(frozen=True, slots=True)
class Declared:
    """A top-level network or volume of a Compose file."""

    kind: ResourceKind
    key: str
    name: str | None
    external: bool

    def resource(self, project: str) -> Resource:
        """The name Docker gives it: ``name:``, else the key for an external one, else
        ``<project>_<key>``, as Compose does."""
        if self.name is not None:
            return Resource(self.kind, self.name)
        return Resource(self.kind, self.key if self.external else f"{project}_{self.key}")


@final
@dataclass(frozen=True, slots=True)
class ComposeModel:
    name: str | None
    services: tuple[Service, ...]
    role: Role
    # Paths relative to the stack's directory that Compose reads when it starts the stack
    # (env files, bind-mount sources, config and secret files, included and extended
    # files, build contexts), as written; a path with a variable in it cannot be known
    # without Docker.
    references: tuple[str, ...] = ()
    # Whether it includes other Compose files (``include:``): their services are not in
    # ``services``, and a file may consist of includes alone.
    includes: bool = False
    # Whether a service's image is built here rather than pulled (see _built_here).
    builds: bool = False
    # Top-level networks and volumes, and whether some service is on the default network
    # (which Compose creates as ``<project>_default`` unless declared otherwise).
    declared: tuple[Declared, ...] = ()
    default_network: bool = False
    # Stacks (repository paths) this one starts after: ``x-gitops: {depends_on: [...]}``.
    depends_on: tuple[str, ...] = ()
    # Its own health gate times (``x-gitops: {health_timeout: 300, settle: 30}``), None
    # where the command line's hold.
    health_timeout: float | None = None
    settle: float | None = None


@final
@dataclass(frozen=True, slots=True)
class Included:
    """A Compose file that the stack's file includes (``include:``), read from the commit."""

    path: str  # in the repository, for messages
    base: str  # its directory, relative to the stack's: where its own relative paths start
    raw: bytes


def compose_model(
    documents: Sequence[bytes], included: Sequence[Included] = ()
) -> Result[ComposeModel, str]:
    """Merge a Compose file, its override and what they include into a model, as Compose would.

    Included files add services (and their labels) and files they name; their ``name:``
    does not name the project.
    """
    name: str | None = None
    services: dict[str, dict[str, Any]] = {}
    references: dict[str, None] = {}  # ordered and without repeats
    declared: dict[tuple[ResourceKind, str], Declared] = {}
    depends_on: tuple[str, ...] = ()
    times: tuple[float | None, float | None] = (None, None)
    includes = False
    sources = [(raw, ".", "") for raw in documents]
    sources += [(each.raw, each.base, f" in {each.path}") for each in included]
    for raw, base, where in sources:
        parsed = _parsed(raw)
        if isinstance(parsed, str):
            return Failure(f"{parsed}{where}")
        references.update(dict.fromkeys(_based(base, _references(parsed))))
        includes = includes or bool(parsed.get("include"))
        if "name" in parsed and not where:
            if not isinstance(parsed["name"], str) or not parsed["name"]:
                return Failure("invalid compose file: name must be a non-empty string")
            name = parsed["name"]
        if not where and "x-gitops" in parsed:
            found = _depends_on(parsed["x-gitops"])
            if isinstance(found, str):
                return Failure(found)
            depends_on = found
            gate = _gate_times(parsed["x-gitops"])
            if isinstance(gate, str):
                return Failure(gate)
            times = gate
        declared.update(_declared(parsed))
        section = parsed.get("services") or {}
        if not isinstance(section, dict):
            return Failure(f"invalid compose file: services must be a mapping{where}")
        for service_name, body in section.items():
            if not isinstance(body, dict):
                return Failure(
                    f"invalid compose file: service {service_name} must be a mapping{where}"
                )
            merged = services.setdefault(str(service_name), {})
            labels = {**_labels(merged.get("labels")), **_labels(body.get("labels"))}
            merged.update(body)
            merged["labels"] = labels
    if not services and not includes:
        return Failure("invalid compose file: no services")
    if name is not None and "$" in name:
        return Failure("invalid compose file: a project name with variables is not supported")
    return Success(
        ComposeModel(
            name=name,
            services=_services(services),
            role=_role(services),
            references=tuple(references),
            includes=includes,
            builds=any(_built_here(body) for body in services.values()),
            declared=tuple(declared.values()),
            default_network=any(_on_default_network(body) for body in services.values()),
            depends_on=depends_on,
            health_timeout=times[0],
            settle=times[1],
        )
    )


def _declared(document: Mapping[str, Any]) -> Iterator[tuple[tuple[ResourceKind, str], Declared]]:
    for kind, section in ((ResourceKind.NETWORK, "networks"), (ResourceKind.VOLUME, "volumes")):
        definitions = document.get(section)
        if not isinstance(definitions, dict):
            continue
        for key, found in definitions.items():
            body = found if isinstance(found, dict) else {}
            external = body.get("external")
            name = body.get("name")
            if isinstance(external, dict):  # the old form: external: {name: proxy}
                name = external.get("name", name)
            yield (
                (kind, str(key)),
                Declared(
                    kind,
                    str(key),
                    name if isinstance(name, str) and name and "$" not in name else None,
                    bool(external),
                ),
            )


def _on_default_network(body: Mapping[str, Any]) -> bool:
    if body.get("network_mode"):
        return False
    networks = body.get("networks")
    return not networks or "default" in networks


def _depends_on(section: object) -> tuple[str, ...] | str:
    """``x-gitops: {depends_on: [reverse_proxy, db/main]}``: repository paths of stacks."""
    problem = "invalid x-gitops: depends_on must be a list of stack paths"
    if not isinstance(section, dict):
        return "invalid x-gitops: must be a mapping"
    listed = _listed(section.get("depends_on"))
    if not all(isinstance(each, str) and each.strip() for each in listed):
        return problem
    return tuple(normpath(str(each).strip().strip("/")) for each in listed)


def _gate_times(section: Mapping[str, Any]) -> tuple[float | None, float | None] | str:
    """``x-gitops: {health_timeout: 300, settle: 30}``: seconds, 0 or more each."""
    found: list[float | None] = []
    for key in ("health_timeout", "settle"):
        value = section.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and (not number or not 0 <= value <= 86400):
            return f"invalid x-gitops: {key} must be a number of seconds from 0 to 86400"
        found.append(None if value is None else float(value))
    return found[0], found[1]


@lru_cache(maxsize=1)
def _loader() -> type[yaml.SafeLoader]:
    """libyaml's loader where PyYAML was built with it (8x faster), the pure one elsewhere,
    as inside gitops.pyz; both accept the same documents."""
    import yaml  # noqa: PLC0415

    found: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return found


def _parsed(raw: bytes) -> dict[str, Any] | str:
    # PyYAML is imported when a Compose file is first read: a check with nothing new to
    # plan reads none, and pays nothing for it.
    import yaml  # noqa: PLC0415

    try:
        document = yaml.load(raw, Loader=_loader())
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return f"invalid compose file: {first_line}{where}"
    except UnicodeDecodeError:
        return "invalid compose file: not UTF-8 text"
    if not isinstance(document, dict):
        return "invalid compose file: top level must be a mapping"
    return document


def _labels(value: object) -> dict[str, str]:
    """Compose accepts labels as a mapping or as a list of ``key=value`` strings."""
    if isinstance(value, dict):
        return {str(key): _label_value(item) for key, item in value.items()}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {key: item for key, _, item in pairs}
    return {}


def _label_value(value: object) -> str:
    # YAML reads an unquoted true as a bool; Compose turns it into the string "true".
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_true(labels: Mapping[str, str], key: str) -> bool:
    return labels.get(key, "").strip().lower() == "true"


def _built_here(body: Mapping[str, Any]) -> bool:
    """A service whose image only a build can give: ``build:`` and nothing to pull.

    With an ``image:`` as well, Compose pulls it, as deploys from a registry expect; the
    build section is then for development, unless ``pull_policy: build`` says otherwise.
    """
    if not body.get("build"):
        return False
    return not body.get("image") or body.get("pull_policy") == "build"


def _role(services: Mapping[str, Mapping[str, Any]]) -> Role:
    labels = [body.get("labels", {}) for body in services.values()]
    if any(_is_true(each, CONTROLLER_LABEL) for each in labels):
        return Role.CONTROLLER
    if any(_is_true(each, IGNORE_LABEL) for each in labels):
        return Role.IGNORED
    return Role.DEPLOY


def _services(services: Mapping[str, Mapping[str, Any]]) -> tuple[Service, ...]:
    awaited = {
        dependency
        for body in services.values()
        if isinstance(body.get("depends_on"), dict)
        for dependency, condition in body["depends_on"].items()
        if isinstance(condition, dict)
        and condition.get("condition") == "service_completed_successfully"
    }
    return tuple(
        Service(
            name=name,
            expected=_started_by_default(body),
            # Done when it exits 0: another service waits for that, or it never restarts
            # (``restart: "no"``; ``no`` unquoted is YAML 1.1's false).
            one_shot=name in awaited or body.get("restart") in ("no", False),
        )
        for name, body in sorted(services.items())
    )


def _started_by_default(body: Mapping[str, Any]) -> bool:
    if body.get("profiles"):
        return False
    deploy = body.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    return body.get("scale", 1) != 0 and replicas != 0


def include_entries(raw: bytes) -> tuple[str, ...]:
    """The relative paths of the Compose files one Compose file includes, as written."""
    return _include_entries(raw) if b"include" in raw else ()  # most files: no parse


@lru_cache(maxsize=4096)
def _include_entries(raw: bytes) -> tuple[str, ...]:
    parsed = _parsed(raw)
    if isinstance(parsed, str):
        return ()  # the model reports it
    return tuple(_relative(_included_paths(parsed)))


def _included_paths(document: Mapping[str, Any]) -> Iterator[object]:
    for entry in _listed(document.get("include")):
        yield from _listed(entry.get("path")) if isinstance(entry, dict) else [entry]


def _based(base: str, paths: Iterable[str]) -> Iterator[str]:
    return (path if base == "." else f"{base}/{path}" for path in paths)


def _references(document: Mapping[str, Any]) -> Iterator[str]:
    """Relative file paths one Compose document makes Compose read (see ComposeModel)."""
    yield from _relative(_included_paths(document))
    yield from _relative(_watched(document))
    for entry in _listed(document.get("include")):
        if isinstance(entry, dict):
            yield from _relative(_listed(entry.get("env_file")))
    for section in ("configs", "secrets"):
        definitions = document.get(section)
        if isinstance(definitions, dict):
            for definition in definitions.values():
                if isinstance(definition, dict):
                    yield from _relative([definition.get("file")])
    services = document.get("services")
    for body in services.values() if isinstance(services, dict) else ():
        if not isinstance(body, dict):
            continue
        for env_file in _listed(body.get("env_file")):
            yield from _relative([env_file.get("path") if isinstance(env_file, dict) else env_file])
        extends = body.get("extends")
        if isinstance(extends, dict):
            yield from _relative([extends.get("file")])
        if _built_here(body):  # else the image is pulled and the context changes nothing
            yield from _relative([_build_context(body.get("build"))])
        for volume in _listed(body.get("volumes")):
            yield from _relative([_bind_source(volume)])


def _watched(document: Mapping[str, Any]) -> Iterator[object]:
    """``x-gitops: {watch: [paths]}``, at the top level or in a service, as the original
    GitopsCompose reads it: files or directories whose changes restart the stack."""
    services = document.get("services")
    bodies = services.values() if isinstance(services, dict) else ()
    for body in (document, *bodies):
        section = body.get("x-gitops") if isinstance(body, dict) else None
        if isinstance(section, dict):
            yield from _listed(section.get("watch"))


def _listed(value: object) -> list[object]:
    """Compose accepts one item or a list of them in many places."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _build_context(build: object) -> object:
    context = build.get("context", ".") if isinstance(build, dict) else build
    # A remote context (a git URL) is not a file of the repository.
    return None if isinstance(context, str) and "://" in context else context


def _bind_source(volume: object) -> object:
    if isinstance(volume, dict):
        return volume.get("source") if volume.get("type") == "bind" else None
    # Short syntax: a source that starts like a path is a bind mount, else a named volume.
    source = str(volume).split(":", 1)[0]
    return source if source.startswith(".") else None


def _relative(paths: Iterable[object]) -> Iterator[str]:
    for path in paths:
        if isinstance(path, str) and path and "$" not in path and not path.startswith(("/", "~")):
            yield path
