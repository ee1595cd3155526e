"""When a check is a full pass, decided from the state and whether a daemon is starting."""

from __future__ import annotations

from gitops_compose.core.reconcile.full_pass import full_pass_done, full_pass_due
from gitops_compose.core.reconcile.state import State

SETTLED = State(full_pass_done=True, settled_commit="c1")


def test_a_settled_state_of_the_same_head_needs_no_full_pass() -> None:
    assert not full_pass_due(SETTLED, "c1", daemon_starting=False)


def test_a_first_state_a_starting_daemon_or_an_unsettled_head_makes_one() -> None:
    assert full_pass_due(State(), "c1", daemon_starting=False)
    assert full_pass_due(SETTLED, "c1", daemon_starting=True)
    # The check before did not settle this head (killed or stopped): its actions may be
    # unknown to the state.
    assert full_pass_due(SETTLED, "c2", daemon_starting=False)


def test_the_full_pass_is_done_once_a_check_did_all_it_had_to() -> None:
    assert full_pass_done(State(), daemon_starting=True, passed=True)
    assert full_pass_done(SETTLED, daemon_starting=False, passed=False)
    assert not full_pass_done(SETTLED, daemon_starting=True, passed=False)
    assert not full_pass_done(State(), daemon_starting=False, passed=False)
