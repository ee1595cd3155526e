"""Every pair of status and event, in the manner of h2's test_state_machines.py.

The transition table is tried pair by pair: every pair is either a change or explicitly
refused, and each change keeps the rules a person relies on: ok after a deployment, a
failure counted and tried again later, a rolled-back deployment's files held until they
change or ``retry``, a failed removal kept until its stop is retried.
"""

from __future__ import annotations

import typing

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_compose.core.reconcile.retry import held, retry_delay, retry_due
from gitops_compose.core.reconcile.state import OriginalStatus, original_status
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.reconcile.transition import (
    FAILURES,
    TRANSITIONS,
    Change,
    Deployed,
    DeployFailed,
    Event,
    EventKind,
    Found,
    Gone,
    Invalid,
    OldProjectStopFailed,
    OldProjectStopped,
    ProjectTaken,
    Refusal,
    RemovalFailed,
    Removed,
    RetryAsked,
    RolledBack,
    Unmanaged,
    WaitsFor,
    transition,
)
from gitops_compose.core.value import replace

STATUSES: list[Status | None] = [None, *Status]
times = st.floats(0, 2e9, allow_nan=False)
optional_times = st.none() | times
names = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)
fingerprints = st.sampled_from(["f1", "f2", "f3"])
texts = st.text(max_size=12)
images = st.lists(st.tuples(names, names), max_size=2).map(tuple)


def records(status: Status) -> st.SearchStrategy[StackStatus]:
    return st.builds(
        StackStatus,
        project=st.none() | names,
        status=st.just(status),
        error=st.none() | texts,
        fingerprint=st.none() | fingerprints,
        commit=st.none() | names,
        error_at=optional_times,
        failures=st.integers(0, 40),
        attempted=st.none() | fingerprints,
        retry_at=optional_times,
        down=st.none() | texts,
        images=images,
        rolled_back_from=st.none() | fingerprints,
        rollbacks=st.integers(0, 40),
    )


EVENTS: dict[EventKind, st.SearchStrategy[Event]] = {
    EventKind.FOUND: st.builds(Found, names, fingerprints, names),
    EventKind.INVALID: st.builds(Invalid, st.none() | names, texts),
    EventKind.UNMANAGED: st.just(Unmanaged()),
    EventKind.GONE: st.just(Gone()),
    EventKind.DEPLOYED: st.builds(Deployed, names, fingerprints, names, images),
    EventKind.DEPLOY_FAILED: st.builds(DeployFailed, names, texts, fingerprints),
    EventKind.ROLLED_BACK: st.builds(RolledBack, names, texts, fingerprints),
    EventKind.REMOVED: st.just(Removed()),
    EventKind.REMOVAL_FAILED: st.builds(RemovalFailed, names, texts, fingerprints),
    EventKind.OLD_PROJECT_STOPPED: st.just(OldProjectStopped()),
    EventKind.OLD_PROJECT_STOP_FAILED: st.builds(OldProjectStopFailed, names, texts, fingerprints),
    EventKind.WAITS_FOR: st.builds(WaitsFor, times),
    EventKind.PROJECT_TAKEN: st.just(ProjectTaken()),
    EventKind.RETRY_ASKED: st.just(RetryAsked()),
}


def test_the_table_names_every_pair_of_status_and_event() -> None:
    assert set(TRANSITIONS) == {(status, kind) for status in STATUSES for kind in EventKind}


def test_each_kind_of_event_is_one_type() -> None:
    kinds = [each.kind for each in typing.get_args(Event)]
    assert sorted(kinds, key=lambda kind: kind.value) == sorted(
        EventKind, key=lambda kind: kind.value
    )
    assert set(EVENTS) == set(EventKind)


def test_only_a_retry_of_what_is_not_failed_is_refused() -> None:
    refused = {pair: why for pair, why in TRANSITIONS.items() if isinstance(why, Refusal)}
    assert refused == {
        (None, EventKind.RETRY_ASKED): Refusal.NOT_IN_STATE,
        (Status.OK, EventKind.RETRY_ASKED): Refusal.NOTHING_TO_RETRY,
    }


def _records_of(status: Status) -> list[StackStatus]:
    """A few records of each status, chosen so every branch of the rules is reached: bare, with
    everything set, rolled back (held, no retry time), and waiting on both at once."""
    full = StackStatus(
        project="p",
        status=status,
        error="e",
        fingerprint="f1",
        commit="c1",
        error_at=5.0,
        failures=3,
        attempted="f2",
        retry_at=100.0,
        down="d",
        images=(("a", "b"),),
        rollbacks=2,
    )
    return [
        StackStatus(project=None, status=status),
        full,
        replace(full, retry_at=None, rolled_back_from="f2"),
        replace(full, rolled_back_from="f1", failures=0, rollbacks=0),
    ]


# Of each kind, an event that matches the records above (same project, reason, files) and one
# that does not.
SAMPLE_EVENTS: list[Event] = [
    Found("p", "f1", "c1"),
    Found("q", "f3", "c2"),
    Invalid(None, "e"),
    Invalid("q", "other"),
    Unmanaged(),
    Gone(),
    Deployed("p", "f1", "c1"),
    Deployed("q", "f3", "c2", (("a", "x"),)),
    *(
        failure(project, error, attempted)
        for failure in (DeployFailed, RolledBack, RemovalFailed, OldProjectStopFailed)
        for project, error, attempted in (("p", "e", "f2"), ("q", "boom", "f3"))
    ),
    Removed(),
    OldProjectStopped(),
    WaitsFor(0.0),
    WaitsFor(500.0),
    ProjectTaken(),
    RetryAsked(),
]


def test_every_pair_keeps_the_rules_on_chosen_records() -> None:
    """Every pair of the table, each with the records and events above, at three times: a
    sweep that cannot miss a pair, where the property below draws any record."""
    seen: set[tuple[Status | None, EventKind]] = set()
    for status in STATUSES:
        befores: list[StackStatus | None] = [None] if status is None else [*_records_of(status)]
        for before in befores:
            for event in SAMPLE_EVENTS:
                for now in (0.0, 50.0, 2e9):
                    _keeps_the_table(status, before, event, now)
                    seen.add((status, event.kind))
    assert seen == set(TRANSITIONS)


# The sweep above reaches every pair; this draws the records' fields freely around it.
@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(STATUSES),
    kind=st.sampled_from(EventKind),
    now=times,
    data=st.data(),
)
def test_every_pair_keeps_the_rules(
    status: Status | None, kind: EventKind, now: float, data: st.DataObject
) -> None:
    before = None if status is None else data.draw(records(status), label="before")
    event = data.draw(EVENTS[kind], label="event")
    _keeps_the_table(status, before, event, now)


def _keeps_the_table(
    status: Status | None, before: StackStatus | None, event: Event, now: float
) -> None:
    after = transition(before, event, now)
    change = TRANSITIONS[(status, event.kind)]
    if isinstance(change, Refusal):
        assert after is change
        return
    assert not isinstance(after, Refusal)
    if change is Change.KEEP:
        assert after == before
    if change is Change.DROP:
        assert after is None
    if after is not None:
        # A record always has a status, and a failure count that never goes negative.
        assert after.failures >= 0
        assert after.rollbacks >= 0
    _keeps_the_rules(before, event, after, now)


def _keeps_the_rules(
    before: StackStatus | None, event: Event, after: StackStatus | None, now: float
) -> None:
    match event:
        case Deployed():
            _deployed(before, event, after, now)
        case DeployFailed() | RemovalFailed() | OldProjectStopFailed() | RolledBack():
            assert event.kind in FAILURES
            _failure_kept(before, event, after, now)
        case Removed() | Unmanaged():
            assert after is None
        case Gone():
            # A failed removal stays until its stop is retried; the rest leave the list.
            removal_failed = before is not None and before.status is Status.REMOVAL_FAILED
            assert after == (before if removal_failed else None)
        case ProjectTaken():
            removal_failed = before is not None and before.status is Status.REMOVAL_FAILED
            assert after == (None if removal_failed else before)
        case OldProjectStopped():
            assert after == before
        case Invalid():
            _invalid(before, event, after, now)
        case Found():
            _found(before, event, after)
        case WaitsFor():
            assert after == (None if before is None else replace(before, retry_at=event.retry_at))
        case RetryAsked():
            assert before is not None
            assert after is not None
            assert before.status is not Status.OK
            assert after.status is before.status
            assert after.rolled_back_from is None
            assert retry_due({"stack": after}, 0.0)
            assert not held(after, after.attempted or "", 0.0)


def _deployed(
    before: StackStatus | None, event: Deployed, after: StackStatus | None, now: float
) -> None:
    assert after is not None
    assert (after.status, after.error, after.retry_at) == (Status.OK, None, None)
    assert (after.project, after.fingerprint, after.commit) == (
        event.project,
        event.fingerprint,
        event.commit,
    )
    assert after.images == event.images
    assert after.failures == 0
    assert after.rollbacks == (before.rollbacks if before is not None else 0)
    assert not held(after, event.fingerprint, now)


def _invalid(
    before: StackStatus | None, event: Invalid, after: StackStatus | None, now: float
) -> None:
    assert after is not None
    assert (after.status, after.error, after.retry_at) == (Status.ERROR, event.reason, None)
    assert original_status(after) is OriginalStatus.INVALID  # never retried as it is
    assert after.project == ((before.project if before else None) or event.project)
    assert after.fingerprint == (before.fingerprint if before else None)
    if before is not None and before.error == event.reason:
        assert after.error_at == before.error_at  # the same error: since then
    else:
        assert after.error_at == now


def _found(before: StackStatus | None, event: Found, after: StackStatus | None) -> None:
    assert after is not None
    waits = (
        before is not None
        and before.status is Status.ERROR
        and (before.retry_at is not None or before.rolled_back_from is not None)
    )
    if before is not None and before.status is Status.OK:
        assert after == before  # deployed from here, or adopted, already
    elif waits:
        assert after == before  # a failed action waits for its retry
    else:
        assert (after.status, after.error, after.project) == (Status.OK, None, event.project)
        expected = event.fingerprint if before is None else before.fingerprint
        assert after.fingerprint == expected


def _failure_kept(
    before: StackStatus | None,
    event: DeployFailed | RemovalFailed | OldProjectStopFailed | RolledBack,
    after: StackStatus | None,
    now: float,
) -> None:
    """A failure is counted, says why and when, waits with the files it tried, and keeps
    what ran well before (what a rollback brings back)."""
    assert after is not None
    wanted = Status.REMOVAL_FAILED if isinstance(event, RemovalFailed) else Status.ERROR
    assert after.status is wanted
    assert after.failures == (before.failures if before is not None else 0) + 1
    assert (after.error, after.error_at, after.attempted) == (event.error, now, event.attempted)
    assert held(after, event.attempted, now)  # the same files are not tried again at once
    if before is not None:
        assert (after.fingerprint, after.commit, after.images) == (
            before.fingerprint,
            before.commit,
            before.images,
        )
    if isinstance(event, RolledBack) and before is not None:
        # Back on what last ran well: those files wait for a change or retry, whenever.
        assert after.retry_at is None
        assert after.rolled_back_from == event.attempted
        assert after.rollbacks == before.rollbacks + 1
        assert held(after, event.attempted, now + 10 * retry_delay(after.failures))
        assert not retry_due({"stack": after}, now + 10 * retry_delay(after.failures))
        return
    # Tried again after the delay of this many failures in a row, and not before.
    assert after.retry_at == now + retry_delay(after.failures)
    assert after.retry_at > now
    assert not retry_due({"stack": after}, now)
    assert retry_due({"stack": after}, after.retry_at)
    assert not held(after, event.attempted, after.retry_at)
    assert after.rolled_back_from is None
