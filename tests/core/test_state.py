"""What one check leaves for the next: the saved state, its JSON form and its counters."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.counting import Counting, Heard, counters_after
from gitops_compose.core.reconcile.retry import retry_delay, retry_due
from gitops_compose.core.reconcile.state import (
    Counters,
    OriginalStatus,
    State,
    active_counts,
    original_counts,
    state_from_json,
    state_to_json,
)
from gitops_compose.core.reconcile.status import Condition, StackStatus, Status

times = st.floats(0, 2e9, allow_nan=False)
optional_text = st.none() | st.text(max_size=20)
records = st.builds(
    StackStatus,
    project=st.none() | st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True),
    status=st.sampled_from(Status),
    error=optional_text,
    fingerprint=optional_text,
    commit=optional_text,
    error_at=st.none() | times,
    failures=st.integers(0, 50),
    attempted=optional_text,
    retry_at=st.none() | times,
)
states = st.builds(
    State,
    full_pass_done=st.booleans(),
    counters=st.builds(
        Counters,
        check_success=st.integers(0, 10**6),
        check_error=st.integers(0, 10**6),
        deployment_success=st.integers(0, 10**6),
        deployment_error=st.integers(0, 10**6),
        last_check=times,
        last_success=times,
        last_error=times,
    ),
    stacks=st.dictionaries(st.text(min_size=1, max_size=20), records, max_size=5),
    desired_commit=optional_text,
)


@settings(max_examples=100, deadline=None)
@given(states)
def test_state_survives_its_json_form(state: State) -> None:
    assert state_from_json(state_to_json(state)) == Success(state)


def test_state_from_an_older_file_without_optional_fields_reads() -> None:
    text = json.dumps({"version": 1, "stacks": {"shop": {"status": "ok", "project": "shop"}}})
    state = state_from_json(text).unwrap()
    assert state.stacks == {"shop": StackStatus("shop", Status.OK)}
    assert (state.full_pass_done, state.counters) == (False, Counters())


def test_corrupt_state_is_refused_with_the_reason() -> None:
    found = state_from_json('{"version": 1, "stacks": ')
    assert isinstance(found, Failure)
    assert found.failure().startswith("not valid JSON")


def test_state_from_a_newer_version_is_refused() -> None:
    found = state_from_json('{"version": 2}')
    assert found == Failure(
        "state version 2 was written by a newer gitops-compose (this one reads version 1)"
    )


def test_state_with_an_unknown_status_is_malformed() -> None:
    found = state_from_json(json.dumps({"version": 1, "stacks": {"shop": {"status": "lost"}}}))
    assert isinstance(found, Failure)
    assert found == Failure(
        "malformed state (stacks['shop'].status: expected one of ok, error, removal_failed, "
        "found 'lost')"
    )


def test_counters_count_checks_and_deployments() -> None:
    heard = Heard(succeeded=3, failed=1, invalid=2, started=1, stopped=1, updated=1)
    once = counters_after(Counting(Counters(), heard), did_all=True, at=100.0)
    twice = counters_after(Counting(once), did_all=False, at=200.0)
    assert twice == Counters(
        check_success=1,
        check_error=1,
        deployment_success=3,
        deployment_error=1,
        last_check=200.0,
        last_success=100.0,
        last_error=200.0,
        deployment_started=1,
        deployment_stopped=1,
        deployment_updated=1,
        deployment_invalid=2,
        last_deployment_success=100.0,
        last_deployment_error=100.0,
    )


def test_retry_is_due_once_its_time_has_come() -> None:
    waiting = {"shop": StackStatus("shop", Status.ERROR, "x", retry_at=160.0)}
    assert (retry_due(waiting, 159.0), retry_due(waiting, 160.0)) == (False, True)


def test_active_counts_every_condition_and_tells_not_running_apart() -> None:
    stacks = {
        "a": StackStatus("a", Status.OK),
        "b": StackStatus("b", Status.OK, down="web has no container"),
        "c": StackStatus("c", Status.ERROR, "exit 1", down="no containers"),
        "d": StackStatus("d", Status.OK, drift=("web",)),
    }
    assert active_counts(State(stacks=stacks)) == {
        Condition.OK: 1,
        Condition.NOT_RUNNING: 1,
        Condition.DRIFTED: 1,
        Condition.ERROR: 1,
        Condition.REMOVAL_FAILED: 0,
    }


def test_what_a_stack_should_run_and_why_it_does_not_survive_a_save() -> None:
    expects = Expectation(("web", "migrate"), frozenset({"migrate"}), includes=True)
    record = StackStatus("a", Status.OK, fingerprint="f", expects=expects, down="web exited 1")
    state = State(stacks={"a": record})
    assert state_from_json(state_to_json(state)).unwrap() == state


def test_retry_waits_double_up_to_half_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 5, 6, 20)] == [60, 120, 240, 960, 1800, 1800]


def test_the_original_statuses_count_every_managed_stack_once_and_the_ignored_ones() -> None:
    stacks = {
        "ok": StackStatus("ok", Status.OK),
        "down": StackStatus("down", Status.OK, down="no containers"),
        "broken": StackStatus("broken", Status.ERROR, "invalid compose file: x"),
        "failed": StackStatus("failed", Status.ERROR, "exit 1", failures=1, retry_at=9.0),
        "stuck": StackStatus("stuck", Status.REMOVAL_FAILED, "exit 1", retry_at=9.0),
    }
    assert original_counts(State(stacks=stacks, ignored=2)) == {
        OriginalStatus.RUNNING: 1,
        OriginalStatus.FAILED: 3,
        OriginalStatus.INVALID: 1,
        OriginalStatus.IGNORED: 2,
    }
