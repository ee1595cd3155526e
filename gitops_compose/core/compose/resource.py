"""What stacks share between them: a network or a volume, as Docker names it.

Its own module, small, so that the shell's Docker host (which names resources) and the
ordering of a plan need not load the Compose file model to speak of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import final


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
