"""Who hears what a check did: the reporters the loop hands each event to.

In the manner of resolvelib's ``BaseReporter``: the loop (shell/check.run_check) knows
nothing of logs, metrics or anyone listening; it hands every event the core tells
(core/reconcile/event.py) to each reporter in its list, in order. The log lines are one
reporter (log_reporter.LogReporter). Notifications and a status page are meant to be more
of them: a class with a ``report`` method, added to the list given to ``run_check``,
without touching the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.event import Event


class Reporter(Protocol):
    """Hears each event of a check, in the order the core told them.

    ``report`` is called from the check's own thread, between two steps of the check: it
    should return quickly (a reporter that sends something over the network hands it to a
    thread or a queue of its own) and must not raise; what it cannot do, it says in its
    own way (a log line), for an exception would end the check. Events are frozen values
    and may be kept. A check's stream starts with ``CheckStarted`` and ends with
    ``CheckSettled``, whose report holds the state the next check starts from.
    """

    def report(self, event: Event) -> None: ...
