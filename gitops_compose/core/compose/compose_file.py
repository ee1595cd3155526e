"""What the core needs to know from a stack's Compose file(s), read without Docker.

Only the parts that decide something are read: the project ``name:``, the services (which
of them must be running), the ``gitops.*`` labels, and the relative paths of files Compose
reads besides the stack's own directory. Everything else is Compose's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from posixpath import normpath
from typing import Any, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_merge import merged
from gitops_compose.core.compose.file_links import extends_reference, includes_in
from gitops_compose.core.compose.file_links import joined as _joined
from gitops_compose.core.compose.file_links import listed as _listed
from gitops_compose.core.compose.interpolation import interpolated, names_read
from gitops_compose.core.compose.parse_cache import ParseCache
from gitops_compose.core.compose.resource import Resource, ResourceKind
from gitops_compose.core.compose.swarm_support import refused_keys

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
    # Files and directories of the repository mounted into its containers (bind sources,
    # config and secret files), relative to the stack's directory as written: a change
    # Compose's own configuration hash does not see, so it is recreated for it by name.
    mounts: tuple[str, ...] = ()
    # Its ``image:`` as Compose resolves it with the stack's variables (None: none, or one
    # through a variable not known here), and whether it has a ``build:`` section: an
    # image built here is never asked of a registry (see image_update).
    image: str | None = None
    built: bool = False


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
    # (env and label files, bind sources and devices, config and secret files, included
    # and extended files and the .env of includes, build contexts and Dockerfiles),
    # interpolated with the stack's variables; a path through a variable they do not
    # hold cannot be known without Docker, and is left out.
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
    # ``x-gitops: {rollback: false}``: never roll this stack back; None where the command
    # line's holds.
    rollback: bool | None = None
    # ``x-gitops: {watch: [...]}`` paths, relative to the stack's directory: their edits
    # restart every service (Compose sees none of them).
    watched: tuple[str, ...] = ()
    # The variables Compose may take from its environment for it, by name: those its
    # files interpolate (the environment wins over ``.env`` in Compose) and those a
    # service's ``environment:`` names without a value. Their values there are part of
    # what decides its configuration (see reconcile's configuration).
    variables_read: tuple[str, ...] = ()
    # ``x-gitops: {image_updates: true}``: follow its images' tags in their registries;
    # None where the command line's --image-updates holds.
    image_updates: bool | None = None
    # Service keys Docker Swarm ignores or refuses (see swarm_support), as
    # ``services.NAME.KEY``: an error under ``--engine swarm`` alone.
    swarm_refused: tuple[str, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class Included:
    """A Compose file that the stack's file includes (``include:``), read from the commit."""

    path: str  # in the repository, for messages
    # Where its own relative paths start, relative to the stack's directory: its directory,
    # or the ``project_directory:`` of the include that names it.
    base: str
    raw: bytes
    # What Compose interpolates it with: the stack's variables, then those of the include's
    # env files (by default the ``.env`` of its project directory) that the stack lacks.
    variables: tuple[tuple[str, str], ...] = ()


@final
@dataclass(frozen=True, slots=True)
class Extended:
    """A Compose file that a service extends (``extends: {file: ...}``), read from the commit.

    ``named_from`` is where the reference stands: the base of the file that has the
    ``extends:`` and its ``file:`` as written, which is how the model finds it.
    """

    named_from: tuple[str, str]
    path: str  # in the repository, for messages
    base: str  # its directory, relative to the stack's
    raw: bytes


def compose_model(
    documents: Sequence[bytes],
    included: Sequence[Included] = (),
    extended: Sequence[Extended] = (),
    variables: tuple[tuple[str, str], ...] = (),
    *,
    parsing: ParseCache,
) -> Result[ComposeModel, str]:
    """Merge a Compose file, its override and what they include into a model, as Compose would.

    Included files add services (and their labels) and files they name; their ``name:``
    does not name the project. A service that extends another (of the same file, or of a
    file in ``extended``) gets that service's settings beneath its own, and the files that
    service names from its own directory. ``variables`` are the stack's ``.env``: they
    interpolate values and may set ``COMPOSE_PROFILES``.
    """
    stack_variables = dict(variables)
    name: str | None = None
    services: dict[str, dict[str, Any]] = {}
    references: dict[str, None] = {}  # ordered and without repeats
    declared: dict[tuple[ResourceKind, str], Declared] = {}
    depends_on: tuple[str, ...] = ()
    times: tuple[float | None, float | None] = (None, None)
    rollback: bool | None = None
    image_updates: bool | None = None
    # (configs|secrets, name) -> its file, relative to the stack's directory.
    mounted_files: dict[tuple[str, str], str] = {}
    watched: dict[str, None] = {}
    read: dict[str, None] = {}
    includes = False
    files = _Extended(extended, parsing)
    sources = [(_merged(documents, parsing), ".", "", stack_variables)]
    sources += [
        (
            _parsed(each.raw, parsing),
            each.base,
            f" in {each.path}",
            {**stack_variables, **dict(each.variables)},
        )
        for each in included
    ]
    for parsed, base, where, known in sources:
        if isinstance(parsed, str):
            return Failure(f"{parsed}{where}")
        references.update(dict.fromkeys(_based(base, _references(parsed, known))))
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
            rollback = parsed["x-gitops"].get("rollback")
            if rollback is not None and not isinstance(rollback, bool):
                return Failure("invalid x-gitops: rollback must be true or false")
            image_updates = parsed["x-gitops"].get("image_updates")
            if image_updates is not None and not isinstance(image_updates, bool):
                return Failure("invalid x-gitops: image_updates must be true or false")
        declared.update(_declared(parsed))
        watched.update(dict.fromkeys(_based(base, _relative(_watched(parsed), known))))
        for kind, file in _mounted_definitions(parsed):
            mounted_files[kind] = file if not where else f"{base}/{file}"
        section = parsed.get("services", {})
        if not isinstance(section, dict):
            return Failure(f"invalid compose file: services must be a mapping{where}")
        for service_name, body in section.items():
            if not isinstance(body, dict):
                return Failure(
                    f"invalid compose file: service {service_name} must be a mapping{where}"
                )
            chain = _chain(
                service_name, section, base=base, variables=known, files=files, where=where
            )
            if isinstance(chain, str):
                return Failure(chain)
            full = _resolved(_merged_chain(chain), known)
            for level_base, level in chain:
                read.update(dict.fromkeys(_read_by(level)))
                references.update(
                    dict.fromkeys(_based(level_base, _service_references(level, full, known)))
                )
            merged = services.setdefault(str(service_name), {})
            labels = {**_labels(merged.get("labels")), **_labels(full.get("labels"))}
            merged.update(full)
            merged["labels"] = labels
    if name is not None and "$" in name:
        return Failure("invalid compose file: a project name with variables is not supported")
    return Success(
        ComposeModel(
            name=name,
            services=_services(services, mounted_files, stack_variables),
            role=_role(services),
            references=tuple(references),
            includes=includes,
            builds=any(_built_here(body) for body in services.values()),
            declared=tuple(declared.values()),
            default_network=any(_on_default_network(body) for body in services.values()),
            depends_on=depends_on,
            health_timeout=times[0],
            settle=times[1],
            rollback=rollback,
            watched=tuple(watched),
            # Every file's values, and each service's with those it extends.
            variables_read=tuple(
                sorted({*read, *(name for each in sources for name in _variables_read(each[0]))})
            ),
            image_updates=image_updates,
            swarm_refused=refused_keys(services),
        )
    )


def _variables_read(value: object) -> Iterator[str]:
    """The variables a parsed Compose file, or a service of it, interpolates from the
    environment, in every value (Compose interpolates values, not keys)."""
    if isinstance(value, str):
        yield from names_read(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _variables_read(item)
    elif isinstance(value, list):
        for item in value:
            yield from _variables_read(item)


def _read_by(service: Mapping[str, Any]) -> Iterator[str]:
    """The variables a service's settings read from the environment."""
    yield from _variables_read(service)
    yield from _passed_through(service)


def _passed_through(body: Mapping[str, Any]) -> Iterator[str]:
    """The variables a service's ``environment:`` names without a value: Compose gives the
    container the value its own environment has."""
    environment = body.get("environment")
    if isinstance(environment, dict):
        yield from (str(key) for key, item in environment.items() if item is None)
    elif isinstance(environment, list):
        yield from (each for each in environment if isinstance(each, str) and "=" not in each)


class _Extended:
    """The files services extend, parsed when first asked for."""

    def __init__(self, extended: Sequence[Extended], parsing: ParseCache) -> None:
        self._by_reference = {each.named_from: each for each in extended}
        self._parsing = parsing

    def services(
        self, reference: tuple[str, str]
    ) -> tuple[Extended, Mapping[str, Any]] | str | None:
        """The services of the file an ``extends`` names (see extends_reference); None when
        the commit does not hold it (a host path, a variable): Compose reads it, the plan
        cannot."""
        found = self._by_reference.get(reference)
        if found is None:
            return None
        parsed = _parsed(found.raw, self._parsing)
        if isinstance(parsed, str):
            return f"{parsed} in {found.path}"
        section = parsed.get("services") or {}
        if not isinstance(section, dict):
            return f"invalid compose file: services must be a mapping in {found.path}"
        return found, section


# Deep enough for any real chain; a longer one is a loop Compose rejects as well.
_MOST_EXTENDS = 64


def _chain(
    name: object,  # the key as the loader gives it; extends names a service by a string
    section: Mapping[Any, Any],
    *,
    base: str,
    variables: Mapping[str, str],
    files: _Extended,
    where: str,
) -> list[tuple[str, Mapping[str, Any]]] | str:
    """The service and the ones it extends in turn, each with the base of its file."""
    chain: list[tuple[str, Mapping[str, Any]]] = []
    seen: list[tuple[str, object]] = []
    place = where.removeprefix(" in ") or "the compose file"
    while True:
        body = section.get(name)
        if not isinstance(body, dict):
            if chain:
                return f"invalid compose file: cannot extend service {name}: not in {place}"
            return f"invalid compose file: service {name} must be a mapping{where}"
        if (place, name) in seen or len(seen) > _MOST_EXTENDS:
            steps = " extends ".join(f"{each} in {file}" for file, each in [*seen, (place, name)])
            return f"invalid compose file: extends cycle: {steps}"
        seen.append((place, name))
        chain.append((base, body))
        extends = body.get("extends")
        if isinstance(extends, str):
            name = interpolated(extends, variables) or extends
            continue
        if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
            return chain
        name = interpolated(extends["service"], variables) or extends["service"]
        file = extends.get("file")
        if not isinstance(file, str):
            continue
        reference = extends_reference(base, file, variables)
        found = files.services(reference) if reference is not None else None
        if found is None:
            return chain  # a file the commit does not hold: its settings are Compose's
        if isinstance(found, str):
            return found
        record, section = found
        base, place = record.base, record.path


def _resolved(body: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """The settings that decide whether Compose starts it, interpolated with the variables
    of its own file: an included file's may differ from the stack's."""
    if "profiles" in body:
        body["profiles"] = [
            interpolated(str(each), variables) for each in _listed(body["profiles"])
        ]
    if "scale" in body:
        body["scale"] = _count(body["scale"], variables)
    deploy = body.get("deploy")
    if isinstance(deploy, dict) and "replicas" in deploy:
        body["deploy"] = {**deploy, "replicas": _count(deploy["replicas"], variables)}
    return body


def _merged_chain(chain: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """One service's settings: those of the services it extends beneath its own."""
    merged: dict[str, Any] = {}
    for _, body in reversed(chain):
        labels = {**_labels(merged.get("labels")), **_labels(body.get("labels"))}
        for key, value in body.items():
            if key in ("build", "deploy") and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
            else:
                merged[key] = value
        merged["labels"] = labels
    merged.pop("extends", None)
    return merged


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


def _parsed(raw: bytes, parsing: ParseCache) -> dict[str, Any] | str:
    """One Compose file, its documents merged (see compose_merge), or why it cannot be read."""
    return _merged([raw], parsing)


def _merged(files: Sequence[bytes], parsing: ParseCache) -> dict[str, Any] | str:
    """A Compose file and its override files, merged as Compose merges them."""
    found = merged(files, parsing.parse)
    if isinstance(found, Failure):
        return f"invalid compose file: {found.failure()}"
    return found.unwrap()


def _labels(value: object) -> dict[str, str]:
    """Compose accepts labels as a mapping or as a list of ``key=value`` strings."""
    if isinstance(value, dict):
        return {str(key): _label_value(item) for key, item in value.items()}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {key: item for key, _, item in pairs}
    return {}


def _label_value(value: object) -> str:
    # YAML reads an unquoted true as a bool; Compose turns it into the string "true", and a
    # null into "". Compose refuses a mapping or sequence here: no need to spell one out.
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _is_true(labels: Mapping[str, str], key: str) -> bool:
    # As the original GitopsCompose: the label's value as Compose has it, equal to "true"
    # (so an unquoted True counts, and "yes" or a quoted "True" do not).
    return labels.get(key) == "true"


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


def _services(
    services: Mapping[str, Mapping[str, Any]],
    files: Mapping[tuple[str, str], str],
    variables: Mapping[str, str],
) -> tuple[Service, ...]:
    awaited = {
        dependency
        for body in services.values()
        if isinstance(body.get("depends_on"), dict)
        for dependency, condition in body["depends_on"].items()
        if isinstance(condition, dict)
        and condition.get("condition") == "service_completed_successfully"
    }
    active = _active_profiles(variables)
    return tuple(
        Service(
            name=name,
            expected=_started_by_default(body, active),
            # Done when it exits 0: another service waits for that, or it never restarts
            # (``restart: "no"``; ``no`` unquoted is YAML 1.1's false).
            one_shot=name in awaited or body.get("restart") in ("no", False),
            mounts=tuple(_mounts(body, files, variables)),
            image=_image(body.get("image"), variables),
            built=bool(body.get("build")),
        )
        for name, body in sorted(services.items())
    )


def _image(value: object, variables: Mapping[str, str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return interpolated(value, variables)


def _mounted_definitions(document: Mapping[str, Any]) -> Iterator[tuple[tuple[str, str], str]]:
    """The files of top-level configs and secrets, and the directories of volumes bound
    to one (``driver_opts: {o: bind, device: ./data}``), by (section, name)."""
    for section in ("configs", "secrets", "volumes"):
        definitions = document.get(section)
        for key, definition in definitions.items() if isinstance(definitions, dict) else ():
            if not isinstance(definition, dict):
                continue
            file = definition.get("file")
            options = definition.get("driver_opts")
            if section == "volumes" and isinstance(options, dict):
                bound = "bind" in str(options.get("o", "")).split(",")
                file = options.get("device") if bound else None
            if isinstance(file, str):
                yield (section, str(key)), file


def _mounts(
    body: Mapping[str, Any], files: Mapping[tuple[str, str], str], variables: Mapping[str, str]
) -> Iterator[str]:
    volumes = _listed(body.get("volumes"))
    yield from _relative((_bind_source(volume) for volume in volumes), variables)
    for volume in volumes:
        named = volume.get("source") if isinstance(volume, dict) else str(volume).split(":")[0]
        if isinstance(named, str) and ("volumes", named) in files:
            yield from _relative([files[("volumes", named)]], variables)
    for section in ("configs", "secrets"):
        for entry in _listed(body.get(section)):
            name = entry.get("source") if isinstance(entry, dict) else entry
            if isinstance(name, str) and (section, name) in files:
                yield from _relative([files[(section, name)]], variables)


def _active_profiles(variables: Mapping[str, str]) -> frozenset[str]:
    """``COMPOSE_PROFILES`` of the stack's ``.env``: Compose honours it even with ``-f``."""
    listed = variables.get("COMPOSE_PROFILES", "")
    return frozenset(each.strip() for each in listed.split(",") if each.strip())


def _started_by_default(body: Mapping[str, Any], active: frozenset[str]) -> bool:
    """Whether ``up`` starts it (see _resolved): no profile or an active one, and not
    scaled to 0. A count not known is taken as not 0."""
    profiles = _listed(body.get("profiles"))
    if profiles and "*" not in active and not active.intersection(profiles):
        return False
    deploy = body.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    return body.get("scale") != 0 and replicas != 0


def _count(value: object, variables: Mapping[str, str]) -> int | None:
    """A ``scale:`` or ``replicas:`` as a number, through variables; None when not known."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    found = interpolated(value, variables)
    return int(found) if found is not None and found.strip().isdigit() else None


def _based(base: str, paths: Iterable[str]) -> Iterator[str]:
    return (_joined(base, path) for path in paths)


def _references(document: Mapping[str, Any], variables: Mapping[str, str]) -> Iterator[str]:
    """Relative file paths one Compose document makes Compose read, besides those of its
    services (see ComposeModel)."""
    yield from _relative(_watched(document), variables)
    for included in includes_in(document):
        yield from _relative(included.paths, variables)
        yield from _relative(included.env_file_paths, variables)
    for section in ("configs", "secrets"):
        definitions = document.get(section)
        if isinstance(definitions, dict):
            for definition in definitions.values():
                if isinstance(definition, dict):
                    yield from _relative([definition.get("file")], variables)
    volumes = document.get("volumes")
    for definition in volumes.values() if isinstance(volumes, dict) else ():
        options = definition.get("driver_opts") if isinstance(definition, dict) else None
        if isinstance(options, dict) and "bind" in str(options.get("o", "")).split(","):
            yield from _relative([options.get("device")], variables)


def _service_references(
    body: Mapping[str, Any], service: Mapping[str, Any], variables: Mapping[str, str]
) -> Iterator[str]:
    """Relative file paths of one service's own settings (``body``, maybe a service it
    extends); ``service`` is the whole of it, which decides whether it builds here."""
    for env_file in _listed(body.get("env_file")):
        path = env_file.get("path") if isinstance(env_file, dict) else env_file
        yield from _relative([path], variables)
    yield from _relative(_listed(body.get("label_file")), variables)
    extends = body.get("extends")
    if isinstance(extends, dict):
        yield from _relative([extends.get("file")], variables)
    if _built_here(service) and body.get("build"):  # else the image is pulled
        yield from _build_paths(body["build"], variables)
    for volume in _listed(body.get("volumes")):
        yield from _relative([_bind_source(volume)], variables)


def _watched(document: Mapping[str, Any]) -> Iterator[object]:
    """``x-gitops: {watch: [paths]}``, at the top level or in a service, as the original
    GitopsCompose reads it: files or directories whose changes restart the stack."""
    services = document.get("services")
    bodies = services.values() if isinstance(services, dict) else ()
    for body in (document, *bodies):
        section = body.get("x-gitops") if isinstance(body, dict) else None
        if isinstance(section, dict):
            yield from _listed(section.get("watch"))


def _build_paths(build: object, variables: Mapping[str, str]) -> Iterator[str]:
    """The local context, a Dockerfile outside it and local additional contexts."""
    context = build.get("context", ".") if isinstance(build, dict) else build
    known = interpolated(context, variables) if isinstance(context, str) else None
    if known is None or _remote(known):
        return  # a remote context (a git URL) is not a file of the repository
    yield from _relative([known], variables)
    if not isinstance(build, dict):
        return
    written = build.get("dockerfile")
    dockerfile = interpolated(written, variables) if isinstance(written, str) else None
    if dockerfile and not build.get("dockerfile_inline") and _leaves(dockerfile):
        yield _joined(known, dockerfile)  # one inside the context counts with it
    contexts = build.get("additional_contexts")
    if isinstance(contexts, dict):
        values: list[object] = list(contexts.values())
    else:
        values = [str(each).partition("=")[2] for each in _listed(contexts)]
    yield from _relative(
        [each for each in values if isinstance(each, str) and not _remote(each)], variables
    )


def _leaves(path: str) -> bool:
    """Whether a relative path goes outside the directory it is relative to."""
    found = normpath(path)
    return not path.startswith("/") and (found == ".." or found.startswith("../"))


def _remote(context: str) -> bool:
    """A URL (``docker-image://``, git) or another service's image: no local files."""
    return "://" in context or context.startswith("service:")


def _bind_source(volume: object) -> object:
    if isinstance(volume, dict):
        return volume.get("source") if volume.get("type") == "bind" else None
    # Short syntax: a source that starts like a path is a bind mount, else a named volume.
    source = str(volume).split(":", 1)[0]
    return source if source.startswith(".") else None


def _relative(paths: Iterable[object], variables: Mapping[str, str]) -> Iterator[str]:
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        known = interpolated(path, variables)
        if known and not known.startswith(("/", "~")):
            yield known
