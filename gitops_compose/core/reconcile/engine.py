"""Which engine a host's stacks run on.

The engine is one implementation of the host protocol (the shell's ``Host``): Compose on
one Docker engine, or Docker Swarm through its manager. The core asks both the same
things. What it must know of Swarm is small and lives in core/compose/swarm_support: the
keys Swarm ignores or refuses make a stack an error under Swarm (planning asks
``stack.for_swarm``), before anything is tried.
"""

from __future__ import annotations

from enum import Enum


class Engine(Enum):
    COMPOSE = "compose"
    SWARM = "swarm"
