"""What stacks share between them: a network or a volume, as Docker names it.

Its own module, small, so that the shell's Docker host (which names resources) and the
ordering of a plan need not load the Compose file model to speak of one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import final

from gitops_compose.core.value import Value


class ResourceKind(StrEnum):  # a str, so that resources sort by kind, then name
    NETWORK = "network"
    VOLUME = "volume"


@final
class Resource(Value):
    """A network or volume as Docker names it: what stacks share between them. Sorted by
    kind, then name."""

    kind: ResourceKind
    name: str

    def __lt__(self, other: Resource) -> bool:
        return (self.kind.value, self.name) < (other.kind.value, other.name)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name}"
