"""A stack's configuration as Compose hashes it, and drift from it.

Compose hashes each service's resolved configuration (``config --hash``) and stamps the
hash on the containers it makes (``com.docker.compose.config-hash``). The hashes the
repository's files give are expected; those the containers carry run; a service whose
hash differs, or a project started from another directory than the stack's, drifted.
The expected hashes are kept in the state with what decides them (the stack's
fingerprint), so they are asked of Compose again only when that changes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import final

from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.value import Value


@final
class ExpectedConfig(Value):
    """The hashes a stack's files give, service by service, and what decides them."""

    # The stack's fingerprint the hashes were asked for.
    key: str
    hashes: tuple[tuple[str, str], ...]


@final
class ConfigQuestion(Value):
    """A stack whose expected hashes the shell asks Compose for (``config --hash '*'``)."""

    stack: str
    project: str
    compose_files: tuple[str, ...]


def stack_directory(clone: str, stack: str) -> str:
    """The directory Compose runs a stack from, as its working_dir label says it."""
    return posixpath.normpath(posixpath.join(clone, stack))


def drifted(
    expected: Mapping[str, str], containers: Sequence[Container], directory: str | None
) -> tuple[str, ...]:
    """The services whose containers run another configuration than expected, by name:
    every one of them when the project runs from another directory than ``directory``
    (None: not known). A service with no expected hash, or a container without the label,
    is not judged."""
    found: set[str] = set()
    for container in containers:
        if directory is not None and container.working_dir not in (None, directory):
            found.add(container.service)
            continue
        hashed = expected.get(container.service)
        if hashed is not None and container.config_hash not in (None, hashed):
            found.add(container.service)
    return tuple(sorted(found))
