"""Images as Docker names them: a repository as Docker normalises its name, and the image
a service's container runs. Its own small module, so that reading what runs (compose_host,
swarm_host) does not load what following image updates decides (image_update)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import final

from gitops_compose.core.value import Value

# Docker Hub's names: what a reference without a registry means, and where it is served.
DOCKER_HUB = "docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")


def repository_of(name: str) -> tuple[str, str] | None:
    """A repository name as Docker normalises it (registry, path), or None when it is not
    one (a variable left in it, upper case)."""
    registry, _, path = name.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        registry, path = DOCKER_HUB, name
    if not _DOMAIN.match(registry):
        return None
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not all(_COMPONENT.match(each) for each in path.split("/")):
        return None
    return registry, path


@final
class RunningImage(Value):
    """The image a service's container runs: its id, and the repository digests Docker
    recorded for it (``127.0.0.1:5000/app@sha256:…``), as ``docker image inspect`` says."""

    id: str
    digests: tuple[str, ...] = ()

    def digest_in(self, registry: str, repository: str) -> str | None:
        """Its digest in that repository (``sha256:…``), or None when Docker recorded none."""
        for each in self.digests:
            name, _, digest = each.partition("@")
            if repository_of(name) == (registry, repository) and digest:
                return digest
        return None


# Compose project -> service -> the image its (first) container runs.
RunningImages = Mapping[str, Mapping[str, RunningImage]]
