"""What a deployed stack should run, as its Compose files said when they were last read."""

from __future__ import annotations

from typing import final

from gitops_compose.core.value import Value


@final
class Expectation(Value):
    """What a deployed stack runs, as its files said when they were last read: the services
    Compose starts by default, those of them that may have exited 0 (others wait for them
    to complete), and whether included Compose files add services not listed here.

    Kept in the state, so that every check can hold the host's containers against it with
    one ``docker ps`` and no Compose file read.
    """

    services: tuple[str, ...] = ()
    one_shot: frozenset[str] = frozenset()
    includes: bool = False
