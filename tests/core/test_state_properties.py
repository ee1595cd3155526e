"""Any state file is a state or a reason, never an exception; and what loads, works.

A state file is whatever is on disk: written by this version or an older one, edited by
hand, cut short, or of the wrong shape. The loader sees arbitrary JSON, and valid documents
with one field anywhere replaced by arbitrary JSON (non-finite floats, huge integers and
deep nesting included). What it accepts must round-trip, and must not break the metrics,
``status`` or the planning of retries later, in every check.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from gitops_compose.core.reconcile.outcome import Outcome
from gitops_compose.core.reconcile.report import (
    plan_document,
    plan_lines,
    status_document,
    status_lines,
)
from gitops_compose.core.reconcile.retry import retry_delay, retry_due
from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json
from gitops_compose.core.reconcile.verdict import statuses_after
from gitops_compose.shell.metrics import StateMetrics

from .builders import MY_APP, compose, facts, planned, stacks
from .test_state import states

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.integers(min_value=-(10**400), max_value=-(10**300))
    | st.floats()  # inf, -inf and NaN included: json writes and reads them
    | st.sampled_from(["ok", "error", "removal_failed", "", "\ud800"])
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def paths(document: Any, where: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in a JSON document a value sits, the document itself first."""
    found = [where]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*where, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*where, index))
    return found


def replaced(document: Any, where: tuple[str | int, ...], value: object) -> Any:
    if not where:
        return value
    key, rest = where[0], where[1:]
    if isinstance(document, dict):
        return {**document, key: replaced(document[key], rest, value)}
    assert isinstance(key, int), where
    items = list(document)
    items[key] = replaced(items[key], rest, value)
    return items


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """A valid state file with one value anywhere replaced by arbitrary JSON."""
    document = json.loads(state_to_json(draw(states)))
    where = draw(st.sampled_from(paths(document)))
    return json.dumps(replaced(document, where, draw(json_values)))


# The examples of the bug report, and the ones that raised inside json.loads itself.
REPORTED = [
    '{"version": 1, "stacks": [1, 2]}',
    '{"version": 1, "counters": [1]}',
    '{"version": 1, "stacks": {"a": {"status": "error", "retry_at": 1e400}}}',
    '{"version": 1, "counters": {"last_check": NaN}}',
    '{"version": 1, "stacks": {"a": {"status": "error", "failures": 1%s}}}' % ("0" * 400),
    '{"version": 1, "stacks": {"a": {"status": "error", "failures": 1%s}}}' % ("0" * 5000),
    "[" * 100_000,
    '{"version": true}',
    '{"version": 1, "full_pass_done": "no"}',
    '{"version": 1, "counters": {"check_success": true}}',
    '{"version": 1, "counters": {"check_error": -1}}',
    '{"version": 1, "stacks": {"a": {"status": "lost"}}}',
    '{"version": 1, "stacks": {"a": {"status": "ok", "project": 7}}}',
    '{"version": 1, "stacks": {"\\ud800": {"status": "ok"}}}',
]


@settings(max_examples=300, deadline=None)
@given(st.text() | json_values.map(json.dumps) | mutated_documents())
@example(REPORTED[0])
@example(REPORTED[1])
@example(REPORTED[2])
@example(REPORTED[3])
@example(REPORTED[4])
@example(REPORTED[5])
@example(REPORTED[6])
@example(REPORTED[7])
@example(REPORTED[8])
@example(REPORTED[9])
@example(REPORTED[10])
@example(REPORTED[11])
@example(REPORTED[12])
@example(REPORTED[13])
def test_any_text_loads_as_a_state_that_works_or_as_a_reason(text: str) -> None:
    found = state_from_json(text)

    if isinstance(found, Failure):
        reason = found.failure()
        assert isinstance(reason, str)
        assert reason
        assert "\n" not in reason
        assert len(reason) < 400  # one readable line, whatever the file held
        return
    state = found.unwrap()
    assert state_from_json(state_to_json(state)) == Success(state)
    works(state)


def test_the_reported_files_are_refused() -> None:
    for text in REPORTED:
        assert isinstance(state_from_json(text), Failure), text


def works(state: State) -> None:
    """What each check and command does with a loaded state, without an exception."""
    exposition = StateMetrics(state).exposition().decode()
    assert "gitops_check_success_total" in exposition
    document = status_document(state)
    json.dumps(document, allow_nan=False)
    status_lines(state)
    now = state.counters.last_check
    retry_due(state.stacks, now)
    # Planning against the saved statuses (retries, waits, stops by project), then every
    # action failing once more: the next try is scheduled from the saved failure count.
    changed = {**MY_APP, "my_app/staging/compose.yaml": compose("web")}
    found = planned(facts(MY_APP, changed, statuses=state.stacks, now=now))
    plan_document(found, "main")
    plan_lines(found, "main")
    failed = [Outcome(action, error="exit 1") for action in found.stack_actions]
    after = statuses_after(state.stacks, found, failed, stacks(changed), now)
    for record in after.values():
        if record.retry_at is not None:
            assert math.isfinite(record.retry_at)
        assert math.isfinite(retry_delay(record.failures + 1))
