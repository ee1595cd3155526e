"""What an action does to a stack: stop, start or restart it.

Its own small module so that what only needs the verb (the counters, see counting) does
not load actions, plans and their causes on an idle check.
"""

from __future__ import annotations

from enum import Enum


class Verb(Enum):
    STOP = "stop"
    START = "start"
    # Pull images and recreate every container, so changed mounted files take effect.
    RESTART = "restart"
