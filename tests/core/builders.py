"""Inputs for the core as small literals: a repository is ``{path: text}``, a host is
``{project: containers}``. Shared by the unit, property and state-machine tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml
from returns.pipeline import is_successful

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.snapshot import Snapshot
from gitops_compose.core.compose.stack import Stacks, contents_needed, stacks_of
from gitops_compose.core.reconcile.plan import Facts, FastForward, Plan, plan
from gitops_compose.core.reconcile.runtime import Container, HostState
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.value import replace
from gitops_compose.shell.yaml_parser import parse_cache

# The name of the repository's directory: what a stack at the root is called.
ROOT_NAME = "infra"
BRANCH = "main"
# What the tests parse with: the parser and cache a process of the shell has.
PARSING = parse_cache()


def blob_id(text: str) -> str:
    """A fake git blob id: the same content always has the same id, as in git."""
    return hashlib.sha1(text.encode()).hexdigest()


def repo(files: Mapping[str, str]) -> Snapshot:
    """One commit: what the shell would read from git, Compose files' bytes included."""
    blobs = {path: blob_id(text) for path, text in files.items()}
    commit = hashlib.sha1(repr(sorted(blobs.items())).encode()).hexdigest()
    return read_as_the_shell_does(Snapshot(commit=commit, blobs=blobs), files)


def read_as_the_shell_does(snapshot: Snapshot, files: Mapping[str, str]) -> Snapshot:
    """Add the contents the core asks for, round by round, as the git adapter does."""
    while needed := contents_needed(snapshot, PARSING):
        read = {snapshot.blobs[path]: files[path].encode() for path in needed}
        snapshot = replace(snapshot, contents={**snapshot.contents, **read})
    return snapshot


def stacks(files: Mapping[str, str]) -> Stacks:
    return stacks_of(repo(files), ROOT_NAME, PARSING)


def compose(*services: str, name: str | None = None, **bodies: Mapping[str, Any]) -> str:
    """A Compose file: ``compose("web", "db")``, or bodies by service: ``compose(web={...})``."""
    return compose_of({**{each: {} for each in services}, **bodies}, name)


def compose_of(bodies: Mapping[str, Mapping[str, Any]], name: str | None = None) -> str:
    """A Compose file of the services in ``bodies``, each with an image of its name."""
    document: dict[str, Any] = {} if name is None else {"name": name}
    document["services"] = {
        each: {"image": f"registry.local/{each}:1", **body} for each, body in bodies.items()
    }
    return yaml.safe_dump(document, sort_keys=False)


# The repository of the product's examples: two stacks of one app, and the tool's own.
CONTROLLER = compose(agent={"labels": {"gitops.controller": True}})
MY_APP = {
    "README.md": "# infra\n",
    "my_app/production/compose.yaml": compose("web", "db"),
    "my_app/production/.env": "TAG=1.4\n",
    "my_app/production/config/nginx/site.conf": "server { listen 80; }\n",
    "my_app/staging/compose.yaml": compose("web", "db"),
    "my_app/staging/.env": "TAG=1.5-rc1\n",
    "gitops/compose.yaml": CONTROLLER,
}


def up(*services: str) -> tuple[Container, ...]:
    """One running container per service."""
    return tuple(Container(service, "running") for service in services)


def exited(service: str, code: int) -> Container:
    return Container(service, "exited", code)


def all_running(desired: Stacks) -> dict[str, tuple[Container, ...]]:
    """A host on which every deployable stack runs every service it starts."""
    return {
        stack.project: up(*(each.name for each in stack.services if each.expected))
        for stack in desired.valid.values()
        if stack.role is Role.DEPLOY
    }


def facts(
    local: Mapping[str, str],
    remote: Mapping[str, str] | None = None,
    host: HostState | None = None,
    *,
    full_pass: bool = False,
    self_heal: bool = False,
    deployed: Mapping[str, str] | None = None,
    statuses: Mapping[str, StackStatus] | None = None,
    now: float = 0.0,
    remote_descends: bool = True,
) -> Facts:
    """A check from ``local`` (HEAD) to ``remote`` (the same commit when None)."""
    local_stacks = stacks(local)
    remote_stacks = local_stacks if remote is None else stacks(remote)
    # What was deployed runs as the local HEAD names it (the remote's name is news).
    projects = {
        path: stack.project
        for found in (remote_stacks, local_stacks)
        for path, stack in found.valid.items()
    }
    return Facts(
        local=local_stacks,
        remote=remote_stacks,
        branch=BRANCH,
        remote_descends=remote_descends,
        host=all_running(local_stacks) if host is None else host,
        full_pass=full_pass,
        self_heal=self_heal,
        statuses={
            **{
                path: StackStatus(projects.get(path, path), Status.OK, fingerprint=fp)
                for path, fp in (deployed or {}).items()
            },
            **(statuses or {}),
        },
        now=now,
    )


def planned(given: Facts) -> Plan:
    found = plan(given)
    if not is_successful(found):
        raise AssertionError(f"expected a plan, got {found.failure()}")
    return found.unwrap()
    raise AssertionError("unreachable")


def steps(found: Plan) -> list[str]:
    """The plan as a reader of the log sees it: ``"stop a/b: removed from main"``."""
    return [
        "fast-forward"
        if isinstance(action, FastForward)
        else f"{action.verb.value} {action.stack}: {action.reason}"
        for action in found.actions
    ]
