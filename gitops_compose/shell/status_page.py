"""The status page: ``GET /`` and ``GET /stacks/<path>`` of the daemon's HTTP server.

Rendered on the server from what the daemon already holds (the state, with its history,
and the facts kept at check time: the host's name, the remote, commit subjects, the last
check), so a request makes no Docker or git call. No build step and no outside asset: a
small style sheet and a small script, both served from here (``/page.css``, ``/page.js``);
the script fetches the page's ``<main>`` every 5 s and replaces only the parts that
changed. Everything shown is escaped, and the responses carry a Content-Security-Policy
that allows no inline script. Read-only: nothing on it acts.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, final
from urllib.parse import quote, unquote

from gitops_compose.core.reconcile.history import Happening, HistoryEntry, of_stack
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.core.value import Value, field
from gitops_compose.shell.history_reporter import LastCheck

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.health import HealthReport
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.core.reconcile.status import StackStatus

SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
)
HTML = "text/html; charset=utf-8"


@final
class PageFacts(Value):
    """What the page shows beside the state, gathered at check time."""

    host: str
    followed: str
    branch: str
    # Seconds between checks; None: checks come from webhooks and sync only.
    interval: float | None
    last_check: LastCheck | None = None
    # Commit -> its subject line, for the commits shown.
    subjects: Mapping[str, str] = field(default_factory=dict)
    # Stack -> the stacks its last planned action waited for.
    waits_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_WORDS = {
    Condition.OK: "ok",
    Condition.NOT_RUNNING: "not running",
    Condition.DRIFTED: "drifted",
    Condition.ERROR: "error",
    Condition.REMOVAL_FAILED: "removal failed",
}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(seconds: float | None) -> str:
    if not seconds:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _commit(commit: str | None, facts: PageFacts) -> str:
    if commit is None:
        return "-"
    subject = facts.subjects.get(commit)
    shown = f"<code>{_e(commit[:12])}</code>"
    return shown if subject is None else f"{shown} {_e(subject)}"


def _since(history: tuple[HistoryEntry, ...], path: str) -> float | None:
    for entry in of_stack(history, path):
        if entry.happening in (Happening.SUCCEEDED, Happening.RECOVERED):
            return entry.at
    return None


def _reason(record: StackStatus) -> str:
    if record.condition is Condition.OK:
        return ""
    if record.drift:
        return (
            record.error
            or record.down
            or f"drift: {', '.join(record.drift)} run other configuration"
        )
    return record.error or record.down or ""


def _stack_row(path: str, record: StackStatus, state: State, facts: PageFacts) -> str:
    condition = record.condition
    retry = f" next retry {_e(_when(record.retry_at))}" if record.retry_at else ""
    waits = ", ".join(facts.waits_for.get(path, ())) or "-"
    return (
        f'<tr data-key="stack:{_e(path)}" class="{condition.value}">'
        f'<td><a href="/stacks/{_e(quote(path, safe="/"))}">{_e(path)}</a>'
        f"<br><small>{_e(record.project or '-')}</small></td>"
        f'<td><span class="status">{_e(_WORDS[condition])}</span></td>'
        f"<td>{_commit(record.commit, facts)}<br><small>since "
        f"{_e(_when(_since(state.history, path)))}</small></td>"
        f'<td class="reason">{_e(_reason(record))}</td>'
        f"<td>{record.failures}{retry}</td>"
        f"<td>{record.rollbacks}</td>"
        f"<td>{_e(waits)}</td></tr>"
    )


def _summary(state: State, facts: PageFacts, health: HealthReport, now: float) -> str:
    last = facts.last_check
    if last is None:
        checked = f"{_e(_when(state.counters.last_check))} (before this daemon started)"
        next_at = None
    else:
        outcome = "ok" if last.ok else f"failed: {last.failure or 'not everything done'}"
        checked = f"{_e(_when(last.ended))}, took {last.ended - last.began:.1f} s, {_e(outcome)}"
        next_at = None if facts.interval is None else last.ended + facts.interval
    following = (
        "on webhooks and sync only"
        if facts.interval is None
        else _e(_when(next_at))
        if next_at is not None
        else "after the running one"
    )
    health_class = "ok" if health.ok else "error"
    rows = (
        ("Host", _e(facts.host)),
        ("Remote", f"{_e(facts.followed)}, branch {_e(facts.branch)}"),
        ("Remote head", _commit(state.desired_commit, facts)),
        ("Deployed", _commit(state.settled_commit, facts)),
        ("Last check", checked),
        ("Next check", following),
        (
            "Daemon",
            f'<span class="{health_class}"><span class="status">{_e(health.health.value)}'
            f"</span></span> {_e(health.reason)}",
        ),
    )
    del now
    items = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="facts" data-key="summary">{items}</table>'


def main_of_page(state: State, facts: PageFacts, health: HealthReport, now: float) -> str:
    """The ``<main>`` of ``/``: what the script fetches again."""
    rows = "".join(
        _stack_row(path, record, state, facts) for path, record in sorted(state.stacks.items())
    )
    if not rows:
        rows = '<tr data-key="none"><td colspan="7">No managed stack yet.</td></tr>'
    return (
        _summary(state, facts, health, now)
        + '<h2>Stacks</h2><div class="scroll"><table class="stacks"><thead><tr>'
        "<th>Stack</th><th>Status</th><th>Deployed</th><th>Reason</th>"
        "<th>Failures</th><th>Rollbacks</th><th>Waits for</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def main_of_stack(state: State, facts: PageFacts, path: str) -> str | None:
    """The ``<main>`` of ``/stacks/<path>``, or None for a stack never seen."""
    record = state.stacks.get(path)
    entries = of_stack(state.history, path)
    if record is None and not entries:
        return None
    if record is None:
        now_line = "no longer managed"
    else:
        now_line = (
            f'<span class="{record.condition.value}"><span class="status">'
            + _e(_WORDS[record.condition])
            + f"</span></span> {_e(_reason(record))}"
        )
    count = len(state.history)
    items = "".join(
        f'<tr data-key="event:{count - index}">'
        f"<td>{_e(_when(entry.at))}</td>"
        f'<td class="{_e(entry.happening.name.lower())}">{_e(entry.happening.value)}</td>'
        f"<td>{_commit(entry.commit, facts)}</td>"
        f'<td class="reason">{_e(entry.reason or "")}</td></tr>'
        for index, entry in enumerate(entries)
    )
    if not items:
        items = '<tr data-key="none"><td colspan="4">No event kept.</td></tr>'
    return (
        f'<p data-key="now">Now: {now_line}</p><div class="scroll"><table class="events">'
        "<thead><tr><th>When</th><th>What</th><th>Commit</th><th>Reason</th></tr></thead>"
        f"<tbody>{items}</tbody></table></div>"
    )


def whole(title: str, main: str, *, back: bool) -> str:
    link = '<p><a href="/">All stacks</a></p>' if back else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="stylesheet" href="/page.css"><script src="/page.js" defer></script>'
        f'</head><body><h1>{_e(title)}</h1>{link}<main id="main">{main}</main>'
        "<footer>Refreshes every 5 s. Read-only.</footer></body></html>"
    )


PAGE_CSS = b"""body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72em;padding:.5em;
color:#222;background:#fff}
h1{font-size:1.3em;word-break:break-all}h2{font-size:1.1em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;
padding:.3em .5em;border-bottom:1px solid #ddd}
.facts th{width:8em}.scroll{overflow-x:auto}
td{overflow-wrap:anywhere}code{font-size:.9em}.reason{min-width:12em;max-width:30em}
.status{font-weight:bold;padding:0 .3em;border-radius:.2em;color:#fff;white-space:nowrap}
.ok .status{background:#2e7d32}.not_running .status,.drifted .status{background:#b26a00}
.error .status,.removal_failed .status{background:#c62828}
.failed,.invalid,.rolled_back{color:#c62828}.succeeded,.recovered{color:#2e7d32}
footer{margin-top:1em;color:#666;font-size:.9em}
"""

PAGE_JS = b"""'use strict';
// Fetches this page's <main> every 5 s and replaces only the parts that changed.
(function () {
  var main = document.getElementById('main');
  function keys(root) {
    return Array.prototype.map.call(root.querySelectorAll('[data-key]'), function (each) {
      return each.getAttribute('data-key');
    }).join('\\n');
  }
  function apply(text) {
    var fresh = document.createElement('main');
    fresh.innerHTML = text;
    if (keys(fresh) !== keys(main)) {
      main.innerHTML = fresh.innerHTML;
      return;
    }
    var old = main.querySelectorAll('[data-key]');
    var now = fresh.querySelectorAll('[data-key]');
    for (var i = 0; i < now.length; i++) {
      if (old[i].outerHTML !== now[i].outerHTML) {
        old[i].replaceWith(now[i].cloneNode(true));
      }
    }
  }
  function refresh() {
    fetch(location.pathname + '?part=main', {cache: 'no-store'})
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (text) { if (text !== null) { apply(text); } })
      .catch(function () {})
      .then(function () { setTimeout(refresh, 5000); });
  }
  if (main) { setTimeout(refresh, 5000); }
})();
"""


def _same(drawn: object, key: tuple[State, PageFacts, HealthReport]) -> bool:
    """The same state and facts (the very values) and an equal health."""
    assert isinstance(drawn, tuple)
    return drawn[0] is key[0] and drawn[1] is key[1] and drawn[2] == key[2]


@final
class StatusPage:
    """The page of a daemon: the state comes from ``state``, the rest from ``facts``
    (replaced by the daemon after each check) and ``health``."""

    def __init__(
        self,
        state: Callable[[], State],
        facts: PageFacts,
        health: Callable[[], HealthReport],
    ) -> None:
        self._state = state
        self.facts = facts
        self._health = health
        # What was drawn of which state, facts and health, for each path and part: a burst
        # of reloads draws once (the state changes once a check).
        self._drawn: dict[tuple[str, bool], tuple[object, bytes]] = {}
        self._drawing = threading.Lock()

    @staticmethod
    def serves(path: str) -> bool:
        """Whether ``path`` is one of the page's (to GET), whatever the method asked."""
        return path in ("/", "/page.js", "/page.css") or path.startswith("/stacks/")

    def answer(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        """Code, content type and body for a path of the page; None for another path."""
        if path == "/page.js":
            return 200, "text/javascript; charset=utf-8", PAGE_JS
        if path == "/page.css":
            return 200, "text/css; charset=utf-8", PAGE_CSS
        part = query == "part=main"
        state, facts = self._state(), self.facts
        if path == "/":
            health = self._health()
            key = (state, facts, health)
            with self._drawing:
                drawn = self._drawn.get((path, part))
                if drawn is not None and _same(drawn[0], key):
                    return 200, HTML, drawn[1]
                main = main_of_page(state, facts, health, time.time())
                title = f"gitops-compose on {facts.host}"
                body = (main if part else whole(title, main, back=False)).encode()
                self._drawn[path, part] = (key, body)
            return 200, HTML, body
        if path.startswith("/stacks/"):
            stack = unquote(path.removeprefix("/stacks/"))
            found = main_of_stack(state, facts, stack)
            if found is None:
                missing = f"<p>{_e(stack)} is not known.</p>"
                return 404, HTML, whole("No such stack", missing, back=True).encode()
            return 200, HTML, (found if part else whole(stack, found, back=True)).encode()
        return None
