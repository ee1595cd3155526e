"""When the daemon's next check is due: at the end of its interval, or at once when a hook,
a ``sync`` or a stop asks. Any number of asks during a check make one more check after it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import final


@final
@dataclass(slots=True)
class Ticket:
    """A ``sync --wait``: answered with the exit code of the first check that starts after
    it was asked for, as ``--once`` would exit."""

    answered: threading.Event = field(default_factory=threading.Event)
    code: int | None = None

    def answer(self, code: int | None) -> None:
        """None: no check came (the daemon stopped first)."""
        self.code = code
        self.answered.set()


@final
class Due:
    def __init__(self) -> None:
        # Reentrant: a signal handler may ring while the main thread holds it.
        self._changed = threading.Condition(threading.RLock())
        self._rung = False
        self._tickets: list[Ticket] = []
        # What rang since the last check began, with how many times, for the debug log.
        self.asked: dict[str, int] = {}

    def ring(self, why: str) -> None:
        """Ask for a check now, or right after the running one."""
        with self._changed:
            self._rung = True
            self.asked[why] = self.asked.get(why, 0) + 1
            self._changed.notify_all()

    def ask(self) -> Ticket:
        """Ring, and be told how the check went."""
        ticket = Ticket()
        with self._changed:
            self._tickets.append(ticket)
        self.ring("sync")
        return ticket

    def wait(self, seconds: float | None) -> None:
        """Until rung, or ``seconds`` passed (None: until rung)."""
        with self._changed:
            self._changed.wait_for(lambda: self._rung, seconds)

    def take(self) -> tuple[list[Ticket], dict[str, int]]:
        """At the start of a check: what rang so far is answered by it."""
        with self._changed:
            self._rung = False
            tickets, self._tickets = self._tickets, []
            asked, self.asked = self.asked, {}
            return tickets, asked
