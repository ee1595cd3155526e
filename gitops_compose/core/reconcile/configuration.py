"""A stack's configuration as Compose hashes it, and drift from it.

Compose hashes each service's resolved configuration (``config --hash``) and stamps the
hash on the containers it makes (``com.docker.compose.config-hash``). The hashes the
repository's files give are expected; those the containers carry run; a service whose
hash differs, or a project started from another directory than the stack's, drifted.
The expected hashes are kept in the state with what decides them: the stack's
fingerprint (its files) and the values, in the environment Compose runs with, of the
variables those files read (see compose_file's ``variables_read``); they are asked of
Compose again only when one of those changes. The values are kept only as a hash, with
the names: the shell tells them as facts (``CheckSettings.environment``, each value as
its HMAC under a key of the host, so that no value can be guessed back from the state
file), and a check
that reads no Compose file (an idle one) still knows from the names whether the kept
hashes hold.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from typing import final

from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.value import Value, field


@final
class ExpectedConfig(Value):
    """The hashes a stack's files give, service by service, and what decides them."""

    # The stack's fingerprint the hashes were asked for.
    key: str
    hashes: tuple[tuple[str, str], ...]
    # The variables its files read from the environment, and a hash of their values
    # then (see environment_digest).
    variables: tuple[str, ...] = ()
    environment: str = ""

    def holds(self, fingerprint: str | None, environment: Mapping[str, str]) -> bool:
        """Whether these are the hashes of these files in this environment."""
        return self.key == fingerprint and self.environment == environment_digest(
            self.variables, environment
        )


def expected_config(
    fingerprint: str,
    variables: tuple[str, ...],
    environment: Mapping[str, str],
    hashes: Mapping[str, str],
) -> ExpectedConfig:
    """The hashes of a stack whose files have this fingerprint and read these variables,
    in this environment."""
    digest = environment_digest(variables, environment)
    return ExpectedConfig(fingerprint, tuple(sorted(hashes.items())), variables, digest)


def environment_digest(variables: tuple[str, ...], environment: Mapping[str, str]) -> str:
    """A hash of the values of ``variables`` in ``environment``, an unset one told apart
    from an empty one; empty when there are none. A hash, as values may be secrets."""
    if not variables:
        return ""
    digest = hashlib.sha256()
    for name in variables:
        value = environment.get(name)
        digest.update(f"{name}\0".encode())
        digest.update(b"\1" if value is None else f"={value}\0".encode())
    return digest.hexdigest()


@final
class ConfigQuestion(Value):
    """A stack whose expected hashes the shell asks Compose for (``config --hash '*'``)."""

    stack: str
    project: str
    compose_files: tuple[str, ...]


@final
class Baseline(Value):
    """What a look at the host judges drift by: the kept hashes, the environment they must
    be for, and the clone's directory ("": not known, the directory is not judged)."""

    configs: Mapping[str, ExpectedConfig]
    environment: Mapping[str, str] = field(default_factory=dict)
    clone: str = ""

    def __repr__(self) -> str:
        """Without the environment's values: they may be secrets."""
        return f"Baseline(configs={self.configs!r}, clone={self.clone!r})"

    def hashes(self, stack: str, fingerprint: str | None) -> Mapping[str, str]:
        """The hashes a stack deployed from files of this fingerprint runs, where known."""
        config = self.configs.get(stack)
        if config is None or not config.holds(fingerprint, self.environment):
            return {}
        return dict(config.hashes)

    def directory(self, stack: str) -> str | None:
        return stack_directory(self.clone, stack) if self.clone else None


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


def moved(containers: Sequence[Container], directory: str | None) -> tuple[str, ...]:
    """The services whose project runs from another directory than ``directory`` (None:
    not known), by name."""
    if directory is None:
        return ()
    return tuple(
        sorted({each.service for each in containers if each.working_dir not in (None, directory)})
    )
